"""A bench in a background thread, with progress updates and cancel: what the UI drives (no gradio here).

Example:
    job = BenchJob.start(BenchRequest("tiny-image", ["baseline", "teacache"], count=10), out_dir)
    for update in job.updates():     # BenchUpdate(done, total, label, ...), the last one has summary or error
        print(update.done, update.total)
    job.cancel()                     # the current result finishes; what is done stays on disk
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

from studio.bench.outputs import write_outputs
from studio.bench.plan import plan_variants, resolve_prompts
from studio.bench.runner import run_bench
from studio.engine.request import Generation
from studio.inputs import check_negative_prompt
from studio.presets import load_preset
from studio.sizes import parse_size

REQUEST_FILE = "request.json"  # the page's request, kept in the bench's folder so the bench can be resumed


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
    size: str | None = None  # "WxH" / "WxHxF" (studio.sizes); None: the preset's
    negative_prompt: str | None = None  # with every prompt (pipelines that take one)
    sweeps: list[str] = field(default_factory=list)
    budget_mean_lpips: float = 0.1
    budget_p95_lpips: float = 0.2
    gpu_price: float | None = None
    worst_k: int = 4

    def save(self, folder: Path) -> None:
        """Write the request into the bench's folder, with a copy of a local prompts file (an upload's temporary
        file does not last), so the bench can be resumed there later."""
        saved = dict(vars(self))
        if self.prompts_file and Path(self.prompts_file).is_file():
            copy = folder / f"prompts{Path(self.prompts_file).suffix}"
            if Path(self.prompts_file).resolve() != copy.resolve():
                shutil.copyfile(self.prompts_file, copy)
            saved["prompts_file"] = copy.name
        (folder / REQUEST_FILE).write_text(json.dumps(saved, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BenchRequest:
        """The request a bench in `folder` was started with; ValueError if it was not started from the page."""
        path = folder / REQUEST_FILE
        if not path.is_file():
            raise ValueError(f"'{folder.name}' has no {REQUEST_FILE} (it was not started from this page); resume it "
                             f"with `python -m studio bench --out {folder}` and its original options")
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("prompts_file") and not Path(saved["prompts_file"]).is_absolute():
            saved["prompts_file"] = str(folder / saved["prompts_file"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})


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
    elapsed_s: float = 0.0  # since the job started
    eta_s: float | None = None  # the time left at this run's pace so far (None before its first result)


class BenchJob:
    """Checks the request at once (errors raise before any thread starts) and keeps it in the output folder (for a
    resume), then runs in a daemon thread."""

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
        self.generation = Generation(request.steps, parse_size(self.preset, request.size),
                                     check_negative_prompt(self.preset, request.negative_prompt))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._started = self._last_result = time.monotonic()  # reset when the thread starts
        self._resumed_from: int | None = None  # results already on disk when this run began (a resume)
        self._state = BenchUpdate(0, len(self.prompts.prompts) * len(self.variants), "starting", out_dir=self.out_dir,
                                  note=self.plan.note() if self.plan else "")
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        request.save(self.out_dir)

    @classmethod
    def start(cls, request: BenchRequest, out_dir: Path, get_engine: Callable = shared_engine) -> BenchJob:
        job = cls(request, out_dir, get_engine)
        job._thread.start()
        return job

    def _set(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._state, k, v)
            if changes.get("finished"):
                self._state.elapsed_s, self._state.eta_s = time.monotonic() - self._started, 0.0

    def _run(self) -> None:
        r = self.request
        self._started = self._last_result = time.monotonic()
        try:
            run = run_bench(self.get_engine(r.preset), self.prompts, self.variants, self.out_dir, self.generation,
                            progress=self._progress, should_stop=self._stop.is_set, show_bar=False)
            summary = None
            if run.rows:
                summary = write_outputs(self.out_dir, self.preset, run.rows, self.variants,
                                        (r.budget_mean_lpips, r.budget_p95_lpips), r.gpu_price, self.plan,
                                        self.generation, worst_k=r.worst_k, stopped=run.stopped)
            self._set(finished=True, cancelled=run.stopped, summary=summary, label="cancelled" if run.stopped
                      else "done")
        except Exception as e:  # noqa: BLE001 - reported to the user as the job's error, never swallowed
            self._set(finished=True, error=f"{type(e).__name__}: {e}", label="failed")

    def _progress(self, done: int, total: int, label: str) -> None:
        now = time.monotonic()
        if self._resumed_from is None:
            self._resumed_from = done - 1
        ran = done - self._resumed_from  # the pace counts only this run's results, not those a resume found
        eta = (now - self._started) / ran * (total - done)
        with self._lock:
            self._last_result = now
            self._state.done, self._state.total, self._state.label, self._state.eta_s = done, total, label, eta

    def cancel(self) -> None:
        self._stop.set()

    def snapshot(self) -> BenchUpdate:
        with self._lock:
            update = BenchUpdate(**vars(self._state))
            if not update.finished:  # the clock runs between results too
                now = time.monotonic()
                update.elapsed_s = now - self._started
                if update.eta_s is not None:
                    update.eta_s = max(0.0, update.eta_s - (now - self._last_result))
        return update

    def updates(self, every_s: float = 0.5) -> Iterator[BenchUpdate]:
        """Snapshots while the job runs (at most one per `every_s`), ending with the finished one."""
        while True:
            state = self.snapshot()
            yield state
            if state.finished:
                return
            self._thread.join(every_s)
