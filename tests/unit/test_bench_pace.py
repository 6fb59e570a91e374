"""The Benchmark tab's running status gives the time so far and an estimate of the time left."""

from studio.bench import job as job_module
from studio.bench.job import BenchJob, BenchRequest
from studio.ui.bench_tab import _status


def test_the_estimate_uses_only_this_runs_pace_and_counts_down_between_results(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(job_module.time, "monotonic", lambda: clock[0])
    job = BenchJob(BenchRequest("tiny-image", ["baseline", "naive4"], count=5), tmp_path)  # 10 results, not started
    assert job.snapshot().eta_s is None and "0:00 elapsed" in _status(job.snapshot())
    clock[0] = 110.0
    job._progress(7, 10, "naive4 · prompt 4")  # a resume: 6 results were on disk, this run's first took 10 s
    update = job.snapshot()
    assert (update.elapsed_s, update.eta_s) == (10.0, 30.0)  # 3 left at 10 s each, not at 110 s / 7
    assert _status(update) == "Running: 7 of 10 results (naive4 · prompt 4), 00:10 elapsed, about 00:30 left."
    clock[0] = 115.0
    assert (job.snapshot().elapsed_s, job.snapshot().eta_s) == (15.0, 25.0)
    clock[0] = 130.0
    job._progress(8, 10, "baseline · prompt 5")  # two results in 30 s: 2 left at 15 s each
    assert job.snapshot().eta_s == 30.0
    clock[0] = 200.0
    assert job.snapshot().eta_s == 0.0  # slower than the estimate: never below zero
