"""Every variant kind on tiny random pipelines of the real diffusers classes (FLUX, SDXL, Wan), through the engine
as a real model runs: loaded with `from_pretrained(path)`, each variant runs and is measured, or fails alone with
its reason (SDXL's UNet has no transformer blocks for a cache)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.request import RunRequest
from studio.engine.runner import Engine
from studio.variant import CacheSpec, QuantSpec, Variant, WeightsSpec

PROMPT = "a photo of a red cat"


def _variants(checkpoint: str, cache: str | None) -> list[Variant]:
    """One variant of every kind; `checkpoint` stands in for a vendor's distilled checkpoint (same architecture)."""
    distilled = WeightsSpec("distilled", ref=checkpoint)
    made = [Variant("baseline"), Variant("int8", quant=QuantSpec("int8wo")), Variant("naive2", steps=2),
            Variant("distilled", weights=distilled, steps=2)]
    if cache:
        made += [Variant("cached", cache=CacheSpec(cache, 1.0)),
                 Variant("stack", weights=distilled, quant=QuantSpec("int8wo"), cache=CacheSpec(cache, 1.0), steps=4)]
    else:
        made.append(Variant("stack", weights=distilled, quant=QuantSpec("int8wo"), steps=2))
    return made


@pytest.mark.parametrize(("preset_name", "path_fixture", "cache"), [
    ("tiny-flux-test", "tiny_flux_path", "teacache"),
    ("tiny-wan-test", "tiny_wan_path", "teacache"),
    ("tiny-sdxl-test", "tiny_sdxl_path", None),
])
def test_every_variant_kind_runs_and_is_measured(tiny_presets, request, preset_name, path_fixture, cache):
    preset = tiny_presets[preset_name]
    engine = Engine(preset)
    variants = _variants(str(request.getfixturevalue(path_fixture)), cache)
    results = {r.name: r for r in engine.compare(RunRequest(PROMPT, seed=3), variants)}
    assert {name: r.error for name, r in results.items()} == dict.fromkeys(results)
    kinds = {name: r.kind for name, r in results.items()}
    assert kinds["baseline"] == "baseline" and kinds["int8"] == "quantized" and kinds["naive2"] == "naive"
    assert kinds["distilled"] == "distilled" and kinds["stack"] == "stacked"
    base = results["baseline"]
    for r in results.values():
        assert r.timings["end_to_end_s"] > 0 and r.timings["denoise_s"] > 0 and r.speedup > 0
        assert r.memory["weights_bytes"] > 0 and np.isfinite(r.output).all()
        assert r.output.shape == base.output.shape
    # int8 weight-only quantizes the linear layers (a UNet's convolutions stay as they are)
    assert results["int8"].memory["weights_bytes"] < 0.8 * base.memory["weights_bytes"]
    # the "distilled checkpoint" here holds the base weights: at the same steps it must give the same picture
    np.testing.assert_array_equal(results["distilled"].output, results["naive2"].output)
    if cache:
        timeline = results["cached"].cache["timeline"]
        assert len(timeline) == preset.steps and timeline[0] == timeline[-1] == "computed"
        assert "reused" in timeline  # threshold 1.0 on a random model: some steps are reused
        assert results["stack"].cache["computed_steps"] + results["stack"].cache["reused_steps"] == 4


def test_a_cache_on_a_unet_fails_alone_with_its_reason(tiny_presets):
    engine = Engine(tiny_presets["tiny-sdxl-test"])
    results = engine.compare(RunRequest(PROMPT, steps=2), [Variant("baseline"),
                                                          Variant("cached", cache=CacheSpec("teacache", 0.3))])
    assert results[0].error is None and np.isfinite(results[0].output).all()
    assert "TeaCache needs a transformer" in results[1].error and "UNet2DConditionModel" in results[1].error


@pytest.mark.parametrize(("preset_name", "real_preset"), [("tiny-flux-test", "flux1-dev"),
                                                          ("tiny-wan-test", "wan21-t2v-1.3b")])
def test_every_cache_the_real_preset_lists_applies_to_its_tiny_counterpart(tiny_presets, preset_name, real_preset):
    from studio.presets import load_preset

    preset = tiny_presets[preset_name]
    kinds = load_preset(real_preset).caches
    assert "teacache" in kinds and "fbc" in kinds
    variants = [Variant("baseline")] + [
        Variant(kind, cache=CacheSpec(kind, None, (("warmup_steps", 2),) if kind == "region" else ()))
        for kind in kinds]
    results = Engine(preset).compare(RunRequest(PROMPT, seed=1), variants)
    assert {r.name: r.error for r in results} == dict.fromkeys(["baseline", *kinds])
    for r in results[1:]:
        assert r.kind == "cached" and len(r.cache["timeline"]) == preset.steps and np.isfinite(r.output).all()


def test_magcache_without_published_ratios_fails_alone_naming_them(tiny_presets):
    results = Engine(tiny_presets["tiny-wan-test"]).compare(
        RunRequest(PROMPT, steps=2), [Variant("baseline"), Variant("mag", cache=CacheSpec("magcache"))])
    assert results[0].error is None
    assert "magnitude ratios" in results[1].error and "WanTransformer3DModel" in results[1].error


@pytest.mark.parametrize("preset_name", ["tiny-sdxl-test", "tiny-wan-test"])
def test_a_negative_prompt_reaches_the_pipeline(tiny_presets, preset_name):
    """The unconditional branch of classifier-free guidance uses it: the picture changes, and reruns agree."""
    engine = Engine(tiny_presets[preset_name])
    base = Variant("baseline")
    plain = engine.run_variant(base, RunRequest(PROMPT, seed=2)).output
    steered = engine.run_variant(base, RunRequest(PROMPT, seed=2, negative_prompt="blurry, dark")).output
    again = engine.run_variant(base, RunRequest(PROMPT, seed=2, negative_prompt="blurry, dark")).output
    np.testing.assert_array_equal(steered, again)
    assert not np.array_equal(steered, plain)  # (a random tiny Wan barely listens: about 1e-6)


def test_a_bench_with_a_negative_prompt_keeps_it_and_resumes_only_with_it(tiny_presets, tmp_path):
    from studio.bench.outputs import write_outputs
    from studio.bench.prompts import BenchPrompt, PromptSet
    from studio.bench.runner import BenchError, run_bench
    from studio.engine.request import Generation

    preset = tiny_presets["tiny-sdxl-test"]
    engine = Engine(preset)
    prompts = PromptSet("mine", (BenchPrompt(0, "a photo of a red cat", 1), BenchPrompt(1, "a blue dog", 2)))
    variants = [Variant("baseline"), Variant("naive2", steps=2)]
    blurry = Generation(negative_prompt="blurry")
    run = run_bench(engine, prompts, variants, tmp_path, blurry, show_bar=False)
    assert len(run.rows) == 4 and {r["negative_prompt"] for r in run.rows} == {"blurry"} and not run.failed
    write_outputs(tmp_path, preset, run.rows, variants, generation=blurry)
    assert "NEGATIVE_PROMPT = 'blurry'" in (tmp_path / "recommended.py").read_text()
    with pytest.raises(BenchError, match="holds a bench with --negative-prompt 'blurry'"):
        run_bench(engine, prompts, variants, tmp_path, show_bar=False)
