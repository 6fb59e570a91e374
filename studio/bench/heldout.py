"""Held-out evaluation of the embedded models: adherence and fidelity per variant, on prompts never trained on.

    python -m studio evaluate --preset tiny-image --variants baseline,naive4 --prompts 200

Prompts come from studio.tiny.data.eval_prompts (held-out colour/shape/position combinations); prompt i uses
seed EVAL_SEED_OFFSET + i, and every variant gets the same initial noise per prompt. Prompts run in batches
through the engine's own pipelines (so quantized and distilled variants are the real thing). Each variant's
adherence is also given against the baseline's (or the first named) paired per prompt, with a 95% interval: the
question a team asks of a student is whether its gap is real, and one 200-prompt figure alone cannot say.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch

from studio.bench.paired import paired_difference, paired_text
from studio.engine.caches import cache_applied
from studio.engine.runner import Engine, call_pipeline, noise_shape
from studio.presets import Preset
from studio.tiny.checker import check
from studio.tiny.data import EVAL_SEED_OFFSET, eval_prompts
from studio.tiny.language import parse_prompt

BATCH = 25


def _reference_name(names: list[str]) -> str:
    return "baseline" if "baseline" in names else names[0]


def _noise(preset: Preset, pipe, seeds: list[int]) -> torch.Tensor:
    shape = noise_shape(pipe, preset.width, preset.height, preset.frames)
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds])


def evaluate(preset: Preset, variant_names: list[str], count: int, seed: int = 0,
             log: Callable[[str], None] = lambda _: None, engine: Engine | None = None,
             combinations: str = "held-out") -> dict:
    """Adherence (share of prompts with every object right), per-attribute errors and mean fidelity, on held-out
    combinations (or, `combinations="trained"`, on trained ones: see eval_prompts)."""
    if not variant_names:
        raise ValueError("name at least one variant to evaluate")
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
        verdicts, fidelities, errors, seconds = [], [], Counter(), 0.0
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
                verdicts.append(bool(verdict.adherent))
                fidelities.append(verdict.fidelity)
                errors.update(e for o in verdict.objects for e in o.errors)
            log(f"{name}: {min(start + BATCH, count)}/{count} prompts")
        rows[name] = {"slug": variant.slug, "steps": steps, "adherence": sum(verdicts) / count,
                      "fidelity": float(np.mean(fidelities)), "errors": dict(errors),
                      "seconds_per_sample": seconds / count, "adherent_per_prompt": verdicts}
    reference = _reference_name(list(rows))
    for name, row in rows.items():
        if name != reference:
            row["vs_reference"] = {"reference": reference,
                                   **paired_difference(rows[reference]["adherent_per_prompt"],
                                                       row["adherent_per_prompt"])}
    two_objects = sum(len(parse_prompt(p, video)) == 2 for p in prompts)
    table = (f"{count} prompts ({combinations} combinations, seed {seed}): {count - two_objects} with one object, "
             f"{two_objects} with two\n{_table(rows, reference)}")
    return {"preset": preset.name, "prompts": count, "seed": seed, "combinations": combinations, "variants": rows,
            "two_object_prompts": two_objects, "reference": reference, "table": table}


def _table(rows: dict, reference: str) -> str:
    width = max(12, *map(len, rows))
    versus_header = f"vs {reference}: points [95% CI, paired]"
    column = max(34, len(versus_header))
    lines = [f"{'variant':{width}s} {'steps':>5s} {'adherence':>9s} {'fidelity':>8s}  "
             f"{versus_header:{column}s}  errors"]
    for name, r in rows.items():
        versus = r.get("vs_reference")
        paired = paired_text(versus) if versus else "reference"
        lines.append(f"{name:{width}s} {r['steps']:5d} {100 * r['adherence']:8.1f}% {r['fidelity']:8.3f}  "
                     f"{paired:{column}s}  {r['errors']}")
    return "\n".join(lines)
