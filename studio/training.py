"""One training loop for everything this project trains (the embedded models and distilled students).

Resumable and reproducible: the caller's `loss_at(step)` draws its data and noise from (seed, step), and the
loop checkpoints model, EMA and optimizer state every `checkpoint_every` steps, so a run resumed from
`workdir/checkpoint.pt` continues exactly as an uninterrupted one would. What it returns is the EMA of the weights.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from studio.storage import output_folder_problem


class WorkdirError(ValueError):
    """A workdir or output folder that a training run cannot use; the message says why and what to do."""


def check_run_folders(out: Path | None, workdir: Path, threads: int | None = None) -> None:
    """Refuse, before any training, what would otherwise fail only when the run ends (or with a traceback)."""
    for flag, path in (("--out", out), ("--workdir", workdir)):
        if path is not None and (problem := output_folder_problem(flag, path)):
            raise WorkdirError(problem)
    if threads is not None and threads < 1:
        raise WorkdirError(f"--threads must be a positive whole number, got {threads}")


def claim_workdir(workdir: Path, settings: dict) -> None:
    """A workdir holds one run: resuming it with other settings would silently mix two trainings.

    The first run writes `settings.json`; a later run with different settings is refused, naming what changed.
    (The step count is the caller's to leave out: stretching a run's schedule by rerunning with more steps is allowed.)
    """
    check_run_folders(None, workdir)
    path = workdir / "settings.json"
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            raise WorkdirError(f"--workdir '{workdir}': settings.json is unreadable; delete the workdir or use "
                               "another") from None
        if previous != settings:
            changed = sorted(k for k in settings.keys() | previous.keys() if previous.get(k) != settings.get(k))
            raise WorkdirError(f"--workdir '{workdir}' holds a run with other settings ({', '.join(changed)}); "
                               "use another --workdir or delete it")
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))


def lr_at(step: int, total: int, peak: float, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    warmup = min(warmup, max(1, total // 10))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_loop(modules: torch.nn.Module, loss_at: Callable[[int], torch.Tensor], *, steps: int, lr: float,
               workdir: Path, desc: str, ema_decay: float = 0.999, checkpoint_every: int = 100,
               warmup: int = 200) -> torch.nn.Module:
    """Train `modules` (its trainable parameters) for `steps` optimizer steps; returns the EMA copy."""
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = workdir / "checkpoint.pt"
    params = [p for p in modules.parameters() if p.requires_grad]
    # The parts of a ModuleDict (a student and its critic) each get their own gradient-norm clip, so that one
    # part's large gradients do not shrink the other's steps.
    parts = modules.values() if isinstance(modules, torch.nn.ModuleDict) else [modules]
    clip_groups = [[p for p in part.parameters() if p.requires_grad] for part in parts]
    ema = copy.deepcopy(modules).requires_grad_(False)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    start, losses = 0, []
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=True)
        modules.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        start, losses = state["step"], list(state["losses"])
        print(f"resumed from {ckpt_path} at step {start}", file=sys.stderr)
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=desc, mininterval=5)
    t0 = time.time()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup)
        loss = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for part_params in clip_groups:
            torch.nn.utils.clip_grad_norm_(part_params, 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(ema_decay, (1 + step) / (10 + step))
            for e, p in zip(ema.parameters(), modules.parameters(), strict=True):
                if p.requires_grad:
                    e.lerp_(p, 1 - decay)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
        done = step + 1
        if done % checkpoint_every == 0 or done == steps:
            torch.save({"model": modules.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                        "step": done, "losses": losses}, ckpt_path)
            (workdir / "loss.csv").write_text("step,loss\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(losses)))
    print(f"{desc}: {steps - start} steps in {time.time() - t0:.0f} s this run", file=sys.stderr)
    return ema
