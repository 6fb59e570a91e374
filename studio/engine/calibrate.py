"""Fit TeaCache's rescale polynomial for any model from a handful of prompts.

TeaCache predicts how much the denoiser's output changes between steps from how much the first block's
modulated input changed. This runs the baseline exactly as its variant runs (size, steps, guidance), records both
relative L1 changes from each step to the next, and fits output_change ~= poly(input_change) by least squares
(numpy.polyfit, highest power first). Pipelines that call the denoiser twice a step (conditional and
unconditional, as Wan's does) are compared call to same call.

    python -m studio calibrate-teacache --preset tiny-image --prompts 8
"""

from __future__ import annotations

import numpy as np
import torch

from studio.engine.caches import denoiser_of
from studio.engine.request import RunRequest
from studio.engine.runner import Engine, call_pipeline
from studio.engine.teacache import _blocks, modulated_input
from studio.presets import Preset


def _rel_l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean() / b.abs().mean().clamp(min=1e-8))


# Varied subjects, scales and lighting, so the fitted curve is not one scene's.
REAL_MODEL_PROMPTS = (
    "a photo of a cat", "a city street at night", "a bowl of fruit on a table", "a mountain lake",
    "a portrait of an old fisherman, soft window light", "a red sports car on a wet road",
    "an astronaut riding a horse",
    "a watercolor painting of a lighthouse", "a close-up of a honeybee on a flower", "a crowded market in the rain",
    "a minimalist living room interior", "a dragon made of clouds at sunset", "a plate of sushi, top view",
    "a snowy forest with a small cabin", "a neon sign that says OPEN", "a golden retriever running on a beach",
)


def calibration_prompts(preset: Preset, count: int) -> list[str]:
    if preset.pipeline == "tiny":
        from studio.tiny.data import eval_prompts

        return eval_prompts(count, preset.media == "video", seed=99)
    if count > len(REAL_MODEL_PROMPTS):
        raise ValueError(f"calibration on a real model takes at most {len(REAL_MODEL_PROMPTS)} prompts, got {count}")
    return list(REAL_MODEL_PROMPTS[:count])


def calibrate_teacache(preset: Preset, count: int = 8, degree: int = 2,
                       engine: Engine | None = None) -> tuple[list[float], dict]:
    """Returns (coefficients, {'pairs': n, 'r2': goodness of fit})."""
    engine = engine or Engine(preset)
    pipe = engine.base_pipeline()
    denoiser = denoiser_of(pipe)
    blocks = _blocks(denoiser)
    if not blocks:
        raise ValueError(f"TeaCache calibration needs transformer blocks; {type(denoiser).__name__} has none")
    first = blocks[0]
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []

    def on_first_block(module, args, kwargs):
        inputs.append(modulated_input(module, args, kwargs)[1].detach().float())

    def on_denoiser(module, args, kwargs, output):
        outputs.append((output[0] if isinstance(output, tuple) else output.sample).detach().float())

    h1 = first.register_forward_pre_hook(on_first_block, with_kwargs=True)
    h2 = denoiser.register_forward_hook(on_denoiser, with_kwargs=True)
    xs, ys = [], []
    baseline = preset.variants["baseline"]
    try:
        for i, prompt in enumerate(calibration_prompts(preset, count)):
            inputs.clear()
            outputs.clear()
            call_pipeline(pipe, **engine.call_kwargs(baseline, RunRequest(prompt, seed=i), preset.steps, None))
            calls = min(len(inputs), len(outputs))
            per_step = max(1, calls // preset.steps)  # 2 when cond and uncond run as separate calls
            for k in range(per_step, calls):
                xs.append(_rel_l1(inputs[k], inputs[k - per_step]))
                ys.append(_rel_l1(outputs[k], outputs[k - per_step]))
    finally:
        h1.remove()
        h2.remove()
    x, y = np.array(xs), np.array(ys)
    coefficients = np.polyfit(x, y, degree)
    residual = y - np.polyval(coefficients, x)
    r2 = 1 - float((residual**2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12))
    return [float(c) for c in coefficients], {"pairs": len(xs), "r2": r2}

