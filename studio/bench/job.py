"""A bench in a background thread, with progress updates and cancel: what the UI drives (no gradio here).

Example:
    job = BenchJob.start(BenchRequest("tiny-image", ["baseline", "teacache"], count=10), out_dir)
    for update in job.updates():     # BenchUpdate(done, total, label, ...), the last one has summary or error
        print(update.done, update.total)
    job.cancel()                     # the current result finishes; what is done stays on disk
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from studio.bench.outputs import write_outputs
from studio.bench.plan import plan_variants, resolve_prompts
from studio.bench.runner import run_bench
from studio.presets import load_preset


def shared_engine(preset_name: str):
    """The process's Engine of the preset (studio.engine.pool), shared with the app's other tabs."""
    from studio.engine.pool import engine_for

    return engine_for(preset_name)


@dataclass
class BenchRequest:
    """A bench as the UI describes it; None means the default."""

    preset: str
    variants: list[str]
    prompts_file: str | None = None  # a .txt/.csv/.tsv/.jsonl path, or hf:OWNER/NAME
    prompt_set: str | None = None  # a built-in set (embedded presets)
    count: int | None = 20
    seed: int = 0
    steps: int | None = None
    sweeps: list[str] = field(default_factory=list)
    budget_mean_lpips: float = 0.1
    budget_p95_lpips: float = 0.2
    gpu_price: float | None = None
    worst_k: int = 4


@dataclass
class BenchUpdate:
    done: int
    total: int
    label: str
    finished: bool = False
    cancelled: bool = False
    summary: dict | None = None  # on success: summarize() + front + recommendation
    error: str | None = None
    out_dir: Path | None = None
    note: str = ""  # what the plan left out and why (a threshold sweep skips uncached variants)


class BenchJob:
    """Checks the request at once (errors raise before any thread starts), then runs in a daemon thread."""

    def __init__(self, request: BenchRequest, out_dir: Path, get_engine: Callable = shared_engine):
        self.request, self.out_dir, self.get_engine = request, Path(out_dir), get_engine
        self.preset = load_preset(request.preset)
        from studio.engine.pool import runnable_here

        ok, why = runnable_here(self.preset)
        if not ok:
            raise ValueError(why)
        self.prompts = resolve_prompts(self.preset, request.prompts_file, request.prompt_set, request.count,
                                       request.seed)
        self.variants, self.plan = plan_variants(self.preset, request.variants, request.sweeps)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = BenchUpdate(0, len(self.prompts.prompts) * len(self.variants), "starting", out_dir=self.out_dir,
                                  note=self.plan.note() if self.plan else "")
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench")

    @classmethod
    def start(cls, request: BenchRequest, out_dir: Path, get_engine: Callable = shared_engine) -> BenchJob:
        job = cls(request, out_dir, get_engine)
        job._thread.start()
        return job

    def _set(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._state, k, v)

    def _run(self) -> None:
        r = self.request
        try:
            run = run_bench(self.get_engine(r.preset), self.prompts, self.variants, self.out_dir, steps=r.steps,
                            progress=lambda done, total, label: self._set(done=done, total=total, label=label),
                            should_stop=self._stop.is_set, show_bar=False)
            summary = None
            if run.rows:
                summary = write_outputs(self.out_dir, self.preset, run.rows, self.variants,
                                        (r.budget_mean_lpips, r.budget_p95_lpips), r.gpu_price, self.plan, r.steps,
                                        worst_k=r.worst_k)
            self._set(finished=True, cancelled=run.stopped, summary=summary, label="cancelled" if run.stopped
                      else "done")
        except Exception as e:  # noqa: BLE001 - reported to the user as the job's error, never swallowed
            self._set(finished=True, error=f"{type(e).__name__}: {e}", label="failed")

    def cancel(self) -> None:
        self._stop.set()

    def snapshot(self) -> BenchUpdate:
        with self._lock:
            return BenchUpdate(**vars(self._state))

    def updates(self, every_s: float = 0.5) -> Iterator[BenchUpdate]:
        """Snapshots while the job runs (at most one per `every_s`), ending with the finished one."""
        while True:
            state = self.snapshot()
            yield state
            if state.finished:
                return
            self._thread.join(every_s)
