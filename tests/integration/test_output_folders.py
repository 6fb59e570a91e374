"""Every command that writes a folder refuses one it cannot write in, in one line, before any work: distill
trained for its whole run and then failed with a traceback when it saved the student. (`spotcheck export` says
so too: tests/unit/test_spotcheck_cli.py.)"""

import time

import pytest

from studio.cli import main


@pytest.mark.parametrize("argv, flag", [
    (["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--variants", "baseline", "--out", "{bad}"],
     "--out"),
    (["bench", "--preset", "tiny-image", "--count", "1", "--variants", "baseline", "--out", "{bad}"], "--out"),
    (["region-bench", "--preset", "tiny-image", "--prompt", "a red circle", "--out", "{bad}"], "--out"),
    (["distill", "--preset", "tiny-image", "--pairs", "8", "--train-steps", "2", "--out", "{bad}",
      "--workdir", "{tmp}/work"], "--out"),
    (["distill", "--preset", "tiny-image", "--pairs", "8", "--train-steps", "2", "--out", "{tmp}/student",
      "--workdir", "{bad}"], "--workdir"),
    (["presets", "new", "mine", "--from", "tiny-image", "--source", "assets/tiny-image", "--dir", "{bad}"], "--dir"),
])
def test_an_output_folder_under_a_file_is_refused_before_any_work(tmp_path, capsys, argv, flag):
    (tmp_path / "a-file").write_text("x")
    bad = tmp_path / "a-file" / "out"
    argv = [a.format(bad=bad, tmp=tmp_path) for a in argv]
    started = time.monotonic()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert f"{flag} '{bad}" in err and "is a file, not a folder" in err
    assert time.monotonic() - started < 20  # refused at once: no pairs sampled, no model run
    assert not (tmp_path / "work").exists() and not (tmp_path / "student").exists()


def test_a_disk_that_fills_during_a_run_is_one_line_not_a_traceback(capsys, monkeypatch):
    import studio.cli as cli

    def full(args):
        raise OSError(28, "No space left on device", "out/compare/report.json")

    monkeypatch.setattr(cli, "_cmd_variants", full)
    assert main(["variants", "--preset", "tiny-image"]) == 1
    assert capsys.readouterr().err == "error: No space left on device: 'out/compare/report.json'\n"
