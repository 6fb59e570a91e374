"""Bad command-line input is refused up front, in one line with exit code 2, before any model is loaded or run."""

import pytest

from studio.cli import main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("argv, words", [
    (["evaluate", "--variants", "baseline,typo", "--prompts", "1"], ["'typo' is neither a variant", "baseline"]),
    (["evaluate", "--variants", "nvfp4", "--prompts", "1"], ["variant 'nvfp4'", "needs a Blackwell GPU"]),
    (["evaluate", "--seed", "9000000000000000000", "--prompts", "1"], ["--seed must be from 0 to 2147483647"]),
    (["evaluate", "--combinations", "seen", "--prompts", "1"], ["invalid choice: 'seen'", "held-out", "trained"]),
    (["bench", "--preset", "tiny-image", "--seed", "9000000000000000", "--count", "1", "--out", "{tmp}/b"],
     ["seed must be from 0 to 2147483647 for a built-in prompt set"]),
    (["calibrate-teacache", "--preset", "flux1-dev", "--prompts", "20"], ["1 to 16 prompts"]),
])
def test_refused_before_anything_runs(argv, words, capsys, tmp_path, monkeypatch):
    import studio.bench.heldout as heldout

    monkeypatch.setattr(heldout, "evaluate", lambda *a, **k: pytest.fail("evaluate ran"))
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = _one_line_error(capsys)
    for word in words:
        assert word in err


def test_a_bad_environment_variable_is_a_usage_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_CPU_THREADS", "two")
    assert main(["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--out", str(tmp_path)]) == 2
    assert "STUDIO_CPU_THREADS='two' is not an integer; use a whole number from 1 to 1024" in _one_line_error(capsys)
