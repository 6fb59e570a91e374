"""Held-out evaluation of the embedded models: adherence and fidelity per variant, on prompts never trained on.

    python -m studio evaluate --preset tiny-image --variants baseline,naive4 --prompts 200

Prompts come from studio.tiny.data.eval_prompts (held-out colour/shape/position combinations); prompt i uses
seed EVAL_SEED_OFFSET + i, and every variant gets the same initial noise per prompt. Prompts run in batches
through the engine's own pipelines (so quantized and distilled variants are the real thing).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch

from studio.engine.caches import cache_applied
from studio.engine.runner import Engine, call_pipeline, noise_shape
from studio.presets import Preset
from studio.tiny.checker import check
from studio.tiny.data import EVAL_SEED_OFFSET, eval_prompts

BATCH = 25


def _noise(preset: Preset, pipe, seeds: list[int]) -> torch.Tensor:
    shape = noise_shape(pipe, preset.width, preset.height, preset.frames)
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds])


def evaluate(preset: Preset, variant_names: list[str], count: int, seed: int = 0,
             log: Callable[[str], None] = lambda _: None, engine: Engine | None = None,
             combinations: str = "held-out") -> dict:
    """Adherence (share of prompts with every object right), per-attribute errors and mean fidelity, on held-out
    combinations (or, `combinations="trained"`, on trained ones: see eval_prompts)."""
    engine = engine or Engine(preset)
    video = preset.media == "video"
    prompts = eval_prompts(count, video, seed, combinations)
    seeds = [EVAL_SEED_OFFSET + seed * 100_000 + i for i in range(count)]
    rows = {}
    for name in variant_names:
        variant = preset.variant(name.strip())
        steps = variant.steps or preset.steps
        sampling = engine.sampling_kwargs(variant, steps)
        pipe = engine.pipeline_for(variant)
        adherent, fidelities, errors, seconds = 0, [], Counter(), 0.0
        for start in range(0, count, BATCH):
            batch_prompts = prompts[start:start + BATCH]
            noise = _noise(preset, pipe, seeds[start:start + BATCH])
            t0 = time.perf_counter()
            with cache_applied(pipe, variant.cache, steps, preset.teacache_coefficients):
                out = call_pipeline(pipe, batch_prompts, latents=noise, output_type="np",
                                    num_frames=preset.frames, **sampling)
            seconds += time.perf_counter() - t0
            media = out.frames if video else out.images
            for prompt, m in zip(batch_prompts, media, strict=True):
                verdict = check(prompt, np.asarray(m), video=video)
                adherent += verdict.adherent
                fidelities.append(verdict.fidelity)
                errors.update(e for o in verdict.objects for e in o.errors)
            log(f"{name}: {min(start + BATCH, count)}/{count} prompts")
        rows[name] = {"slug": variant.slug, "steps": steps, "adherence": adherent / count,
                      "fidelity": float(np.mean(fidelities)), "errors": dict(errors),
                      "seconds_per_sample": seconds / count}
    table = "\n".join(
        [f"{'variant':12s} {'steps':>5s} {'adherence':>9s} {'fidelity':>8s}  errors"]
        + [f"{n:12s} {r['steps']:5d} {100 * r['adherence']:8.1f}% {r['fidelity']:8.3f}  {r['errors']}"
           for n, r in rows.items()])
    return {"preset": preset.name, "prompts": count, "seed": seed, "combinations": combinations, "variants": rows,
            "table": table}
