"""ZeroGPU support: run GPU work under `spaces.GPU` with a duration sized from the request; a no-op elsewhere.

On a ZeroGPU Space (SPACES_ZERO_GPU set, `spaces` importable) a GPU is attached only while a decorated function
runs, for at most the `duration` it asked for; a shorter request gets a better place in the queue, and a run that
outlives it is cut off. `estimate_gpu_seconds` sizes that duration from the preset and the variants to run.
Everywhere else (CPU Spaces, Docker, a laptop) `gpu_task` returns the function unchanged.

Example:
    @gpu_task(lambda request: gpu_duration(preset, request.variants, steps=request.steps))
    def run_comparison(request): ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping

from studio.presets import Preset
from studio.variant import Variant

# Seconds per denoising step at the preset's default size, batch 1, on an H100/H200-class GPU without compile,
# classifier-free guidance included where the family uses it. Planning figures rounded up, not measurements:
# too short cuts a run off, too long only costs queue priority.
SECONDS_PER_STEP = {"tiny": 0.05, "sdxl": 0.15, "sana": 0.10, "flux": 0.35, "flux2": 0.30, "sd3": 0.60,
                    "wan": 2.0, "ltx": 3.0}
UNKNOWN_FAMILY_SECONDS_PER_STEP = 1.0
BASE_SECONDS = 15.0  # moving the pipeline to the GPU, text encoding, VAE decoding, saving media
QUANTIZE_SECONDS = 30.0  # torchao quantize_ of a multi-billion-parameter denoiser copy, once per quantized variant
COMPILE_SECONDS = 180.0  # torch.compile of the denoiser on its first call
WEIGHTS_SECONDS = 20.0  # loading another denoiser or a LoRA onto the GPU
SAFETY = 1.3
MIN_SECONDS = 30
MAX_SECONDS = 300  # our cap: longer comparisons should run on a dedicated GPU Space or in Docker
WARMUP_STEPS = 2  # the engine's warm-up run (all steps when compiling), see studio.engine.runner


def on_zerogpu(environ: Mapping[str, str] | None = None) -> bool:
    """True on a ZeroGPU Space (the platform sets SPACES_ZERO_GPU)."""
    env = os.environ if environ is None else environ
    return env.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true", "yes", "on")


def gpu_task(duration_fn: Callable[..., float]) -> Callable[[Callable], Callable]:
    """Decorator: `spaces.GPU(duration=duration_fn)` on ZeroGPU, else the function unchanged.

    `duration_fn` receives the decorated function's own arguments and returns seconds (see `gpu_duration`).
    """

    def decorate(fn: Callable) -> Callable:
        if not on_zerogpu():
            return fn
        try:
            import spaces
        except ImportError:  # SPACES_ZERO_GPU without the package: nothing to attach a GPU with
            return fn
        return spaces.GPU(duration=duration_fn)(fn)

    return decorate


def _size_factor(preset: Preset, width: int | None, height: int | None, frames: int | None) -> float:
    """Cost relative to the preset's default size; attention grows faster than the token count, hence ^1.5 above 1."""
    ratio = ((width or preset.width) * (height or preset.height) * (frames or preset.frames)
             / (preset.width * preset.height * preset.frames))
    return ratio if ratio <= 1 else ratio**1.5


def estimate_gpu_seconds(preset: Preset, variants: Iterable[Variant], steps: int | None = None,
                         width: int | None = None, height: int | None = None, frames: int | None = None,
                         repeats: int = 1, warmup: bool = True) -> float:
    """Seconds of GPU time a comparison needs, before the safety factor and the clamp.

    Cached variants are counted at full steps (how many steps a cache skips is known only after the run).
    """
    per_step = SECONDS_PER_STEP.get(preset.family, UNKNOWN_FAMILY_SECONDS_PER_STEP)
    per_step *= _size_factor(preset, width, height, frames)
    seconds = BASE_SECONDS
    for variant in variants:
        n = variant.steps or steps or preset.steps
        warm = (n if variant.compile else min(n, WARMUP_STEPS)) if warmup else 0
        seconds += per_step * (repeats * n + warm)
        seconds += QUANTIZE_SECONDS if variant.quant else 0.0
        seconds += COMPILE_SECONDS if variant.compile else 0.0
        seconds += WEIGHTS_SECONDS if variant.weights.source != "base" else 0.0
    return seconds


def gpu_duration(preset: Preset, variants: Iterable[Variant], **request) -> int:
    """The `duration` to ask ZeroGPU for: the estimate times SAFETY, rounded up, within [MIN_SECONDS, MAX_SECONDS].

    `request` takes estimate_gpu_seconds' keywords (steps, width, height, frames, repeats, warmup).
    """
    seconds = math.ceil(estimate_gpu_seconds(preset, variants, **request) * SAFETY)
    return max(MIN_SECONDS, min(MAX_SECONDS, seconds))
