"""The bad-input matrix through the CLI: every case exits 2 with one clear line, no traceback, and the next
good command still works."""

import pytest

from studio.cli import main

COMPARE = ["compare", "--preset", "tiny-image", "--prompt", "a red circle at the left", "--variants", "baseline"]


def _with(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    if flag in out:
        out[out.index(flag) + 1] = value
    else:
        out += [flag, value]
    return out


def _files(tmp_path):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("a red circle \xe0 la left\n".encode("latin-1"))
    many = tmp_path / "many.txt"
    many.write_text("a red circle at the left\n" * 100_000)
    huge = tmp_path / "huge.txt"
    huge.write_text("a red circle at the left " * 200_000)
    return {"binary": binary, "empty": empty, "latin1": latin, "many": many, "huge": huge}


CASES = [
    # (argv builder, words the message must contain)
    (lambda f, o: _with(COMPARE, "--prompt", ""), "empty"),
    (lambda f, o: _with(COMPARE, "--prompt", "a red circle " * 800), "2000"),
    (lambda f, o: _with(COMPARE, "--prompt", "a pink dragon"), "unknown word"),
    (lambda f, o: _with(COMPARE, "--steps", "0"), "steps"),
    (lambda f, o: _with(COMPARE, "--steps", "-5"), "steps"),
    (lambda f, o: _with(COMPARE, "--steps", "1000000"), "steps"),
    (lambda f, o: _with(COMPARE, "--seed", "-1"), "seed"),
    (lambda f, o: _with(COMPARE, "--seed", str(2**64)), "seed"),
    (lambda f, o: _with(COMPARE, "--repeats", "0"), "repeats"),
    (lambda f, o: _with(COMPARE, "--preset", "no-such-model"), "no-such-model"),
    (lambda f, o: _with(COMPARE, "--preset", "../../etc/passwd"), "preset"),
    (lambda f, o: _with(COMPARE, "--preset", "/etc/passwd"), "preset"),
    (lambda f, o: _with(COMPARE, "--variants", "warp9"), "warp9"),
    (lambda f, o: _with(COMPARE, "--variants", "tea9"), "out of range"),
    (lambda f, o: _with(COMPARE, "--variants", "region5"), "out of range"),
    (lambda f, o: _with(COMPARE, "--variants", "region0.2zz3"), "unknown parameter tag"),
    (lambda f, o: _with(COMPARE, "--memory-budget-gb", "lots"), "number of GB"),
    (lambda f, o: COMPARE + ["--video"], "video"),
    (lambda f, o: _with(_with(COMPARE, "--preset", "flux1-dev"), "--prompt", "a fox"), "no CUDA GPU"),
    (lambda f, o: ["bench", "--preset", "tiny-image", "--variants", "baseline", "--prompts", str(f["binary"]),
                   "--out", str(o)], "binary.txt"),
    (lambda f, o: ["bench", "--preset", "tiny-image", "--variants", "baseline", "--prompts", str(f["empty"]),
                   "--out", str(o)], "empty.txt"),
    (lambda f, o: ["bench", "--preset", "tiny-image", "--variants", "baseline", "--prompts", str(f["latin1"]),
                   "--out", str(o)], "latin1.txt"),
    (lambda f, o: ["bench", "--preset", "tiny-image", "--variants", "baseline", "--prompts", str(f["many"]),
                   "--out", str(o)], "many.txt"),
    (lambda f, o: ["bench", "--preset", "tiny-image", "--variants", "baseline", "--prompts", str(f["huge"]),
                   "--out", str(o)], "huge.txt"),
    (lambda f, o: ["bench", "--preset", "tiny-image", "--variants", "baseline", "--prompts", str(o / "missing.txt"),
                   "--out", str(o)], "missing.txt"),
    (lambda f, o: ["distill", "--preset", "tiny-image", "--student-steps", "0", "--out", str(o)], "student-steps"),
    (lambda f, o: ["distill", "--preset", "tiny-image", "--prompts", str(f["binary"]), "--out", str(o)], "prompts"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bad_input_exits_2_with_one_clear_line(case, tmp_path, capsys):
    build, words = CASES[case]
    argv = build(_files(tmp_path), tmp_path)
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, f"{argv[:6]}: exit {code}, stderr {err[-300:]}"
    last = err.splitlines()[-1]
    assert words.lower() in last.lower(), f"message does not say what is wrong: {last}"
    assert "Traceback" not in err


def test_good_command_runs_after_the_bad_ones(tmp_path, capsys):
    code = main(_with(COMPARE, "--steps", "2") + ["--out", str(tmp_path / "good")])
    assert code == 0 and (tmp_path / "good" / "report.json").is_file()
