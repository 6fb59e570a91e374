"""Sampling schedules a recipe can name: the noise levels a run of n steps evaluates its denoiser at.

Without one, a pipeline keeps its own default. FlowMatchEulerDiscreteScheduler's spaces n levels from 1 down to
1/1000, so with few steps the last call lands on an almost clean sample (sigma = 0.001) and changes next to nothing:
a 4-step run makes three useful calls. "uniform" is FluxPipeline's choice, 1, 1 - 1/n, ..., 1/n: every call
denoises a quarter of the way at 4 steps. It needs a pipeline that takes `sigmas=` (Flux, SD3, the embedded models).
"""

from __future__ import annotations

import inspect

SCHEDULES = ("uniform",)


def schedule_sigmas(schedule: str | None, steps: int) -> list[float] | None:
    """The sigmas to pass a pipeline for `steps` steps of `schedule` (None: the pipeline's own default)."""
    if schedule is None:
        return None
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule '{schedule}'; known: {', '.join(SCHEDULES)}")
    return [(steps - i) / steps for i in range(steps)]


def check_takes_sigmas(pipe, schedule: str | None) -> None:
    """A clear error, before any work, when a recipe's schedule cannot reach this pipeline."""
    if schedule is not None and "sigmas" not in inspect.signature(pipe.__call__).parameters:
        raise ValueError(f"schedule '{schedule}' sets the noise levels through sigmas=, which "
                         f"{type(pipe).__name__} does not take; drop the schedule for this model")
