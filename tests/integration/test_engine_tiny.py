"""The engine and the compare CLI end to end on the embedded image model (few steps, to stay fast)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.engine.cpu_precision import cpu_has_native_bf16
from studio.engine.request import RunRequest
from studio.engine.runner import Engine
from studio.presets import load_preset

ROOT = Path(__file__).resolve().parents[2]
REPORT_KEYS = {"slug", "kind", "recipe", "steps", "timings", "speedup", "memory", "cache", "metrics", "media", "error"}


@pytest.fixture(scope="module")
def engine():
    return Engine(load_preset("tiny-image"))


def test_baseline_is_bit_identical_across_runs(engine):
    preset = engine.preset
    request = RunRequest("a large red circle at the top left", seed=3, steps=8, warmup=False)
    a = engine.compare(request, [preset.variant("baseline")])[0]
    b = engine.compare(request, [preset.variant("baseline")])[0]
    assert a.error is None and np.array_equal(a.output, b.output)


def test_warm_up_and_timed_runs_call_the_denoiser_in_inference_mode(engine):
    """Both in inference mode (faster small-op dispatch): a compiled variant warmed up in another grad mode would
    be recompiled inside its first timed run. Same picture as a plain no_grad call of the pipeline."""
    from studio.engine.runner import denoiser_of

    preset = engine.preset
    baseline = preset.variant("baseline")
    request = RunRequest("a large red circle at the top left", seed=3, steps=4, warmup=True)
    pipe = engine.pipeline_for(baseline)
    noise = engine.initial_noise(request)
    modes: list[bool] = []
    hook = denoiser_of(pipe).register_forward_pre_hook(lambda *_: modes.append(torch.is_inference_mode_enabled()))
    try:
        result = engine.run_variant(baseline, request, noise)
    finally:
        hook.remove()
    assert result.error is None and len(modes) > 4 and all(modes)
    plain = pipe(**engine.call_kwargs(baseline, request, 4, noise))
    assert np.array_equal(result.output, np.asarray(plain.images[0], dtype=np.float32))


def test_variants_run_and_are_measured(engine):
    preset = engine.preset
    request = RunRequest("a small blue square at the right", seed=1, steps=10, warmup=False)
    # a threshold high enough that 10 steps surely reuse some (the preset's 0.15 is tuned for 50 steps)
    names = ["baseline", "int8", "tea0.6", "fbc", "naive4", "fp8wo"]
    results = {r.name: r for r in engine.compare(request, [preset.variant(n) for n in names])}
    assert "compute capability" in results["fp8wo"].error  # fails clearly on a CPU, others still run
    for name in ["baseline", "int8", "tea0.6", "fbc", "naive4"]:
        r = results[name]
        assert r.error is None, r.error
        assert REPORT_KEYS <= set(r.to_report())
        assert r.timings["end_to_end_s"] > 0 and r.speedup > 0
    assert results["baseline"].memory["weights_bytes"] / results["int8"].memory["weights_bytes"] >= 3.5
    assert results["naive4"].steps == 4 and results["naive4"].kind == "naive"
    cache = results["tea0.6"].cache
    assert cache["computed_steps"] + cache["reused_steps"] == 10 and cache["reused_steps"] > 0
    assert cache["timeline"][0] == "computed" and cache["timeline"][-1] == "computed"
    assert results["baseline"].cache is None
    # the cache hooks are gone afterwards: baseline again is unchanged
    again = engine.compare(request, [preset.variant("baseline")])[0]
    assert np.array_equal(again.output, results["baseline"].output)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, cwd=ROOT)


def test_a_scheduled_variant_samples_at_its_levels(engine):
    """'uniform' must reach the sampler: 4 steps at sigmas 1, .75, .5, .25 (the default ends at 0.001)."""
    preset = engine.preset
    levels = {}
    for name in ("s4", "s4-uniform"):
        result = engine.run_variant(preset.variant(name), RunRequest("a red circle", seed=2, warmup=False))
        assert result.error is None
        levels[name] = [round(float(t)) for t in engine.pipeline_for(preset.variant(name)).scheduler.timesteps]
    assert levels == {"s4": [1000, 667, 334, 1], "s4-uniform": [1000, 750, 500, 250]}


def test_compare_cli_without_variants_runs_the_presets_defaults(tmp_path):
    from studio.cli import main

    assert main(["compare", "--preset", "tiny-video", "--prompt", "a green triangle at the center", "--steps", "2",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert tuple(v["name"] for v in report["variants"]) == load_preset("tiny-video").default_variants
    # report.html: the clips read back from their frame strips, as looping GIFs in the cards
    page = (tmp_path / "report.html").read_text()
    assert page.count('<img class="media" src="data:image/gif;base64,') == len(report["variants"])


def test_a_comparison_written_over_another_leaves_none_of_its_media(tmp_path):
    """Rerun into the same --out: an earlier run's int8.png must not sit beside a report that never ran int8;
    files the studio did not write stay."""
    from studio.cli import main

    (tmp_path / "notes.txt").write_text("mine")
    for variants in ("baseline,int8", "baseline,naive2"):
        assert main(["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--steps", "2",
                     "--variants", variants, "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["baseline.png", "naive2.png"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_compare_cli_writes_report(tmp_path):
    out = tmp_path / "cmp"
    p = _cli("compare", "--preset", "tiny-image", "--prompt", "a green triangle at the center", "--steps", "6",
             "--variants", "baseline,int8,teacache,naive4", "--out", str(out))
    assert p.returncode == 0, p.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["preset"] == "tiny-image" and report["seed"] == 0
    assert report["decoder_dtype"] == ("bfloat16" if cpu_has_native_bf16() else "float32")
    assert [v["slug"] for v in report["variants"]] == ["base", "int8wo", "tea0.1", "s4-uniform"]
    for v in report["variants"]:
        assert REPORT_KEYS <= set(v) and Path(v["media"][0]).exists()
        assert {"end_to_end_s", "denoise_s", "per_step_ms", "decode_s", "load_s", "compile_s"} <= set(v["timings"])
        assert {"peak_bytes", "weights_bytes"} <= set(v["memory"])
        assert {"psnr", "ssim", "adherence", "fidelity"} <= set(v["metrics"])
    assert report["variants"][0]["metrics"]["psnr"] == "inf"
    page = (out / "report.html").read_text()
    assert page.count('<img class="media" src="data:image/png;base64,') == 4
    assert page.split("class='summary'")[1].count("<tr><td>") == 4
    assert "a green triangle at the center" in page and "$0.03 per hour" in page  # this CPU's list price
    assert re.search(r"Fastest within LPIPS ≤ 0\.1: \w+, ×\d+\.\d\d|No variant is both faster", p.stdout), p.stdout


@pytest.mark.parametrize("args, message", [
    (["compare", "--preset", "../x", "--prompt", "a red circle"], "invalid preset name"),
    (["compare", "--preset", "tiny-image", "--prompt", "a pink elephant"], "unknown word"),
    (["compare", "--preset", "tiny-image", "--prompt", ""], "empty"),
    (["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--steps", "0"], "--steps"),
    (["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--seed", "-1"], "--seed"),
    (["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--variants", "warp9"], "neither a variant"),
    (["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--budget-lpips", "0"], "--budget-lpips"),
    (["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--gpu-price", "-1"], "--gpu-price"),
    (["variants", "--preset", "nope"], "unknown preset"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    p = _cli(*args)
    assert p.returncode == 2
    assert message in p.stderr and "Traceback" not in p.stderr


def test_every_variant_kind_runs_on_the_embedded_video_model():
    """Variants that copy the pipeline (student weights, int8) stay video pipelines: motion prompts, 8 frames."""
    preset = load_preset("tiny-video")
    request = RunRequest("a small blue square at the left moving right", seed=1, steps=3, warmup=False)
    names = ["baseline", "int8", "teacache", "naive4", "distilled", "stack"]
    results = Engine(preset).compare(request, [preset.variant(n) for n in names])
    assert [r.error for r in results] == [None] * len(names)
    assert {np.asarray(r.output).shape for r in results} == {(8, 64, 64, 3)}
    for cached in results[2], results[-1]:  # teacache at 3 steps, the stack at 4: a cache that saved nothing says so
        assert (cached.cache["reused_steps"] == 0) == ("note" in cached.cache), cached.cache


def test_a_derived_pipeline_keeps_the_pipelines_own_settings():
    import copy

    from studio.engine.loading import with_components
    from studio.tiny.model import build_pipeline

    video = build_pipeline("video8", seed=0)
    derived = with_components(video, transformer=copy.deepcopy(video.transformer))
    assert derived.is_video and derived.config.video is True and derived.transformer is not video.transformer


def test_the_embedded_decoder_runs_in_bfloat16_where_asked_and_matches_float32(monkeypatch):
    from studio.engine.loading import load_base_pipeline

    preset = load_preset("tiny-video")
    assert preset.cpu_vae_dtype == "bfloat16"
    clips = {}
    for flag, dtype in (("1", torch.bfloat16), ("0", torch.float32)):
        monkeypatch.setenv("STUDIO_CPU_BF16", flag)
        pipe = load_base_pipeline(preset, torch.device("cpu"))
        assert pipe.vae.dtype is dtype
        noise = torch.randn((1, *pipe.latent_shape(64, 64, 8)), generator=torch.Generator().manual_seed(0))
        clips[flag] = pipe("a small red circle moving right", num_inference_steps=3, latents=noise,
                           output_type="np", guidance_scale=4.5).frames[0]
    assert clips["1"].dtype == clips["0"].dtype == np.float32  # callers get float32 pixels either way
    difference = np.abs(clips["1"] - clips["0"])
    assert 0 < difference.max() <= 6 / 255 and difference.mean() < 1 / 255


@pytest.mark.parametrize("interleave, order", [(True, [6, 3, 6, 3, 6, 3]), (False, [6, 6, 6, 3, 3, 3])])
def test_repeats_run_in_rounds_when_interleaved(engine, monkeypatch, interleave, order):
    preset = engine.preset
    timed, original = [], engine._timed_call

    def recording(pipe, kwargs, progress, steps):
        timed.append(steps)
        return original(pipe, kwargs, progress, steps)

    monkeypatch.setattr(engine, "_timed_call", recording)
    request = RunRequest("a small green square at the top", seed=2, steps=6, repeats=3, interleave=interleave)
    results = engine.compare(request, [preset.variant(n) for n in ("baseline", "fp8wo", "s3")])
    assert timed == order  # fp8 fails on a CPU in its first round and is not retried; the others go on
    base, fp8, naive = results
    assert "compute capability" in fp8.error and fp8.timings == {}
    assert base.timings["repeats"] == naive.timings["repeats"] == 3
    assert base.speedup == 1.0 and naive.speedup == pytest.approx(
        base.timings["end_to_end_s"] / naive.timings["end_to_end_s"])
    alone = engine.compare(RunRequest("a small green square at the top", seed=2, steps=6), [preset.variant("s3")])
    assert np.array_equal(alone[-1].output, naive.output)  # rounds change the timing order, never a picture
