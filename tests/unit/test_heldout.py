"""Held-out evaluation counts what the checker says about what the variant's pipeline drew.

A fake pipeline draws true renders of each prompt (optionally with the colour swapped), so the expected verdicts
are known without a trained model.
"""

import dataclasses
import random
from types import SimpleNamespace

import numpy as np
import pytest

from studio.bench.heldout import evaluate
from studio.engine.runner import Engine
from studio.presets import load_preset
from studio.tiny.data import eval_prompts
from studio.tiny.language import parse_prompt
from studio.tiny.render import render_scene, sample_scene


class _DrawingPipeline:
    def __init__(self, recolor: str | None = None):
        self.recolor, self.calls = recolor, []

    def latent_shape(self, height, width, frames):
        return (4, 4, 4)

    def __call__(self, prompts, num_inference_steps, latents, output_type, num_frames, **extra):
        self.calls.append({"prompts": list(prompts), "steps": num_inference_steps, "noise": latents.clone(), **extra})
        rng = random.Random(0)
        images = []
        for prompt in prompts:
            objects = parse_prompt(prompt)
            if self.recolor:
                objects = [dataclasses.replace(o, color=self.recolor if o.color != self.recolor else "white")
                           for o in objects]
            images.append(render_scene(sample_scene(objects, rng)).permute(1, 2, 0).numpy())
        return SimpleNamespace(images=np.stack(images))


class _Engine:
    def __init__(self, preset, pipes):
        self.preset, self.pipes = preset, pipes

    def pipeline_for(self, variant):
        return self.pipes[variant.slug]

    def guidance_for(self, variant):
        return self.preset.guidance_for(variant)

    sampling_kwargs = Engine.sampling_kwargs  # the real rule: steps, guidance and schedule


def test_adherence_and_errors_come_from_the_checker_on_what_was_drawn():
    preset = load_preset("tiny-image")
    truthful, recolored = _DrawingPipeline(), _DrawingPipeline(recolor="red")
    engine = _Engine(preset, {preset.variant("baseline").slug: truthful, preset.variant("naive4").slug: recolored})
    result = evaluate(preset, ["baseline", "naive4"], 30, engine=engine)
    baseline, naive = result["variants"]["baseline"], result["variants"]["naive4"]
    assert baseline["adherence"] >= 0.9 and baseline["steps"] == preset.steps
    assert naive["adherence"] == 0.0 and naive["errors"].get("missing", 0) >= 30 and naive["steps"] == 4
    # (the checker finds no blob of the prompted colour: "missing")
    # Every prompt of the held-out set, in batches, each with its own seeded noise, the same for both variants
    assert [p for c in truthful.calls for p in c["prompts"]] == eval_prompts(30, False, 0)
    assert all(a["noise"].equal(b["noise"]) for a, b in zip(truthful.calls, recolored.calls, strict=True))
    assert truthful.calls[0]["guidance_scale"] == preset.guidance_for(preset.variant("baseline"))
    assert "sigmas" not in truthful.calls[0] and recolored.calls[0]["sigmas"] == [1.0, 0.75, 0.5, 0.25]  # its schedule
    assert "baseline" in result["table"] and "naive4" in result["table"]
    assert result["combinations"] == "held-out"
    two = sum(" and " in p for p in eval_prompts(30, False, 0))
    assert result["two_object_prompts"] == two and 0 < two < 30
    assert result["table"].startswith(f"30 prompts (held-out combinations, seed 0): {30 - two} with one object, "
                                      f"{two} with two\n")
    trained = evaluate(preset, ["baseline"], 5, engine=engine, combinations="trained")
    assert trained["combinations"] == "trained"
    assert truthful.calls[-1]["prompts"] == eval_prompts(5, False, 0, "trained")


def test_paired_difference_counts_the_prompts_that_differ():
    from studio.bench.paired import paired_difference

    reference = [True] * 60 + [False] * 40  # 60%
    other = [True] * 50 + [False] * 10 + [True] * 5 + [False] * 35  # 55%: 10 lost, 5 gained
    result = paired_difference(reference, other)
    assert result["points"] == pytest.approx(-5.0)
    assert (result["only_reference"], result["only_this"]) == (10, 5)
    d = np.array([0] * 50 + [-1] * 10 + [1] * 5 + [0] * 35, dtype=float)
    half = 1.959964 * d.std(ddof=1) / 10
    assert result["ci95"] == pytest.approx([-5.0 - 100 * half, -5.0 + 100 * half])
    # Agreement on every prompt: no difference and no doubt about it
    assert paired_difference(reference, reference) == {"points": 0.0, "ci95": [0.0, 0.0], "only_reference": 0,
                                                       "only_this": 0}
    assert paired_difference([0, 1], [1, 0])["ci95"] == [-100.0, 100.0]  # two prompts: as wide as it can be
    with pytest.raises(ValueError, match="same, non-empty"):
        paired_difference(reference, other[:-1])


def test_each_variant_is_compared_with_the_baseline_on_the_same_prompts():
    preset = load_preset("tiny-image")
    engine = _Engine(preset, {preset.variant("naive4").slug: _DrawingPipeline(recolor="red"),
                              preset.variant("baseline").slug: _DrawingPipeline()})
    result = evaluate(preset, ["naive4", "baseline"], 20, engine=engine)  # the baseline, wherever it is named
    assert result["reference"] == "baseline" and "vs_reference" not in result["variants"]["baseline"]
    base, naive = (result["variants"][n] for n in ("baseline", "naive4"))
    versus = naive["vs_reference"]
    assert versus["reference"] == "baseline"
    assert versus["points"] == pytest.approx(100 * (naive["adherence"] - base["adherence"]))
    assert versus["only_reference"] == sum(base["adherent_per_prompt"]) and versus["only_this"] == 0
    assert versus["ci95"][1] < 0  # every prompt the baseline got right, the recoloured one got wrong
    assert f"{versus['points']:+.1f} [" in result["table"] and "reference" in result["table"]
    alone = evaluate(preset, ["naive4"], 5, engine=engine)  # without a baseline, the first named is the reference
    assert alone["reference"] == "naive4"
    with pytest.raises(ValueError, match="at least one variant"):
        evaluate(preset, [], 5, engine=engine)
