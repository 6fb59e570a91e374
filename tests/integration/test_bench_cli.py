"""The bench end to end on the embedded image model: CLI killed mid-run and resumed, reports, the reproduction
snippet, and the background job with cancel (few steps, few prompts, to stay fast)."""

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.bench.job import BenchJob, BenchRequest
from studio.bench.media import read_parameters
from studio.bench.store import read_rows
from studio.cli import main
from studio.engine.runner import Engine
from studio.presets import load_preset

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _bench_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "studio", "bench", "--preset", "tiny-image", "--variants", "baseline,teacache,naive4",
            "--count", "3", "--steps", "6", "--budget-lpips", "0.3", "--budget-lpips-p95", "0.5", "--no-progress",
            "--out", str(out)]


def test_cli_bench_killed_midway_resumes_without_duplicates_or_gaps(tmp_path, capsys, monkeypatch):
    out = tmp_path / "bench"
    proc = subprocess.Popen(_bench_cmd(out), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and len(read_rows(out / "bench.jsonl")) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_rows(out / "bench.jsonl")
    assert 2 <= len(before) < 9, f"the kill should land mid-run; rows: {len(before)}; {proc.stderr.read()[-500:]}"

    assert main(_bench_cmd(out)[3:]) == 0  # the same command again (in-process: one interpreter start less)
    assert f"{9 - len(before)} results run, {len(before)} resumed" in capsys.readouterr().out
    rows = read_rows(out / "bench.jsonl")
    keys = [(r["prompt_index"], r["slug"]) for r in rows]
    assert len(rows) == 9 and len(set(keys)) == 9
    assert rows[:len(before)] == before  # acknowledged rows are never rewritten or redone
    assert all(r["error"] is None and r["lpips"] is not None and r["adherence"] is not None for r in rows)
    assert {r["steps"] for r in rows if r["variant"] != "naive4"} == {6}

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["variants"]) == ["baseline", "teacache", "naive4"]
    assert all(v["prompts"] == 3 and v["latency_p95_s"] >= v["latency_p50_s"] > 0 for v in summary["variants"].values())
    assert summary["variants"]["baseline"]["lpips_mean"] == 0 and summary["variants"]["naive4"]["lpips_mean"] > 0
    assert summary["recommendation"]["reason"] and summary["pareto_front"]
    for name in ("summary.csv", "results.csv", "report.html", "recommended.py", "grid.png", "pareto.png"):
        assert (out / name).is_file(), name
    page = (out / "report.html").read_text()
    assert "https://" not in page and "http://" not in page and 'id="pareto"' in page
    first = next(r for r in rows if r["variant"] == "teacache" and r["prompt_index"] == 0)
    params = read_parameters(out / first["media"][0])
    assert params["prompt"] == first["prompt"] and params["seed"] == first["seed"] and params["slug"] == "tea0.1"

    # the snippet reproduces the recommended variant's image for the first prompt
    chosen = summary["recommendation"]["variant"] or "baseline"
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(out / "recommended.py"), run_name="__main__")
    bench_png = next(r for r in rows if r["variant"] == chosen and r["prompt_index"] == 0)["media"][0]
    ours = np.asarray(Image.open(tmp_path / "recommended.png"), dtype=np.int16)
    theirs = np.asarray(Image.open(out / bench_png), dtype=np.int16)
    # the bench decodes in bfloat16 where the CPU does it natively, the snippet in float32: the decoder's own bound
    # (tests/integration/test_engine_tiny.py: at most 6/255, mean under 1/255), far below a different picture's
    diff = np.abs(ours - theirs)
    assert diff.max() <= 6 and diff.mean() < 1, (chosen, diff.max(), diff.mean())


@pytest.mark.parametrize("args, message", [
    (["--prompts", "{bad}"], "p.txt line 2 ('a purple elephant'): unknown word(s) 'elephant'"),
    (["--count", "0"], "--count must be from 1 to 5000"),
    (["--sweep", "threshold=0.1", "--variants", "int8,naive4"], "none of int8, naive4 has a cache"),
    (["--budget-lpips", "2"], "--budget-lpips must be from 0 to 1"),
    (["--prompt-set", "nope"], "unknown prompt set 'nope'"),
    (["--variants", "baseline,warp9"], "'warp9' is neither a variant"),
    pytest.param(["--preset", "flux1-dev", "--variants", "baseline", "--prompts", "{bad}"],
                 "this machine has no CUDA GPU", marks=pytest.mark.skipif(torch.cuda.is_available(),
                                                                          reason="with a GPU it would load FLUX")),
])
def test_cli_bench_usage_errors_exit_2_in_one_line(tmp_path, capsys, args, message):
    bad = tmp_path / "p.txt"
    bad.write_text("a red circle\na purple elephant\n")
    argv = ["bench", "--preset", "tiny-image", "--out", str(tmp_path / "o")] + [a.format(bad=bad) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o" / "bench.jsonl").exists()


@pytest.fixture(scope="module")
def engine():
    return Engine(load_preset("tiny-image"))


def test_job_cancel_keeps_finished_results_and_a_new_job_completes_them(tmp_path, engine):
    out = tmp_path / "job"
    request = BenchRequest("tiny-image", ["baseline", "naive4"], count=4, steps=4, budget_mean_lpips=0.5,
                           budget_p95_lpips=0.5)
    job = BenchJob.start(request, out, get_engine=lambda name: engine)
    for update in job.updates(every_s=0.02):
        if update.done >= 1:
            job.cancel()
    assert update.finished and update.cancelled and update.error is None
    assert 1 <= update.done < 8 and update.summary is not None  # partial reports are still written
    kept = read_rows(out / "bench.jsonl")
    assert len(kept) == update.done
    from studio.bench.history import list_runs

    assert update.summary["stopped"] and list_runs(tmp_path)[0].label.endswith(" · cancelled")  # resumable

    final = list(BenchJob.start(request, out, get_engine=lambda name: engine).updates(every_s=0.05))[-1]
    assert final.error is None and not final.cancelled and final.done == final.total == 8
    rows = read_rows(out / "bench.jsonl")
    assert len(rows) == 8 and rows[:len(kept)] == kept
    assert final.summary["variants"]["naive4"]["prompts"] == 4
    assert not final.summary["stopped"] and "cancelled" not in list_runs(tmp_path)[0].label


def test_without_variants_the_bench_runs_the_presets_defaults_and_records_them(tmp_path, capsys):
    from studio.presets import load_preset

    out = tmp_path / "bench"
    assert main(["bench", "--preset", "tiny-image", "--count", "1", "--steps", "2", "--no-progress",
                 "--out", str(out)]) == 0
    defaults = load_preset("tiny-image").default_variants
    summary = json.loads((out / "summary.json").read_text())
    assert tuple(summary["variants"]) == defaults and "distilled" in defaults
    assert f"--variants {','.join(defaults)}" in summary["command"]  # a resume runs the same list
