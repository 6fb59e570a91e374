"""Region cache end to end: tiny random FluxPipeline / WanPipeline (diffusers' classes) and the embedded models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline, WanPipeline

from studio.engine.caches import cache_applied
from studio.engine.region_cache import region_activity
from studio.engine.request import RunRequest
from studio.engine.runner import Engine, save_media
from studio.presets import load_preset
from studio.variant import CacheSpec, Variant

FLUX_KW = dict(height=32, width=32, max_sequence_length=16, guidance_scale=3.5)  # 8x8 image tokens
WAN_KW = dict(height=64, width=64, num_frames=5, max_sequence_length=16, guidance_scale=5.0)  # 2x4x4 tokens


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _region(ratio: float, warmup: int = 1) -> CacheSpec:
    return CacheSpec("region", ratio, (("refresh_every", 0), ("warmup_steps", warmup)))


def _query_lengths(pipe) -> list[int]:
    """Sequence lengths seen by the first block's self-attention query projection, one entry per call."""
    first = (pipe.transformer.transformer_blocks if hasattr(pipe.transformer, "transformer_blocks")
             else pipe.transformer.blocks)[0]
    attention = getattr(first, "attn", None) or first.attn1
    lengths: list[int] = []
    attention.to_q.register_forward_pre_hook(lambda m, a: lengths.append(a[0].shape[1]))
    return lengths


@pytest.mark.parametrize(("cls", "fixture", "kwargs", "tokens"), [
    (FluxPipeline, "tiny_flux_path", FLUX_KW, 64),
    (WanPipeline, "tiny_wan_path", WAN_KW, 32),
])
def test_diffusers_pipelines(cls, fixture, kwargs, tokens, request):
    pipe = cls.from_pretrained(request.getfixturevalue(fixture))
    pipe.set_progress_bar_config(disable=True)
    steps = 5

    def run(spec):
        with cache_applied(pipe, spec, steps):
            out = pipe("a photo of a red cat", num_inference_steps=steps, output_type="np",
                       generator=torch.Generator().manual_seed(0), **kwargs)
            return (out.frames if hasattr(out, "frames") else out.images), region_activity(pipe.transformer)

    reference, _ = run(None)
    same, activity = run(_region(1.0))
    np.testing.assert_allclose(same, reference, atol=1e-5)
    assert activity["modes"].count("partial") == steps - 2
    lengths = _query_lengths(pipe)
    cached, activity = run(_region(0.5))
    assert np.isfinite(cached).all() and cached.shape == reference.shape
    assert activity["computed_token_fraction"] == pytest.approx((2 + 0.5 * (steps - 2)) / steps)
    assert sorted(set(lengths)) == [tokens // 2, tokens]  # partial steps run half the image tokens
    assert len(activity["masks"][1]) == tokens


@pytest.mark.parametrize("preset_name", ["tiny-image", "tiny-video"])
def test_embedded_models_through_the_engine(preset_name, tmp_path):
    preset = load_preset(preset_name)
    engine = Engine(preset)
    request = RunRequest("a small blue square at the left moving right" if preset.media == "video"
                         else "a large red circle at the top left", seed=0, steps=8, warmup=False)
    assert preset.variant("region").cache.kind == "region"  # the preset's own (tuned for 50 steps)
    exact = Variant("region-all", cache=_region(1.0, warmup=2))
    few = Variant("region", cache=_region(0.25, warmup=2))  # 8 steps: a short warm-up so some steps are partial
    results = {r.name: r for r in engine.compare(request, [preset.variant("baseline"), exact, few])}
    for r in results.values():
        assert r.error is None, r.error
    np.testing.assert_allclose(results["region-all"].output, results["baseline"].output, atol=1e-5)
    region = results["region"].cache["region"]
    assert tuple(region["grid"]) == (1, 8, 8)  # (token frames, rows, cols): a video token holds all 8 frames
    assert len(region["masks"]) == 8 and region["modes"][0] == "full" and region["modes"][-1] == "full"
    assert 0 < region["computed_token_fraction"] < 1
    assert results["region"].cache["computed_steps"] + results["region"].cache["reused_steps"] == 8
    media = save_media(results["region"], tmp_path)
    assert media[-1].endswith("region-regions.png") and Path(media[-1]).stat().st_size > 0
    assert not any(m.endswith("-regions.png") for m in save_media(results["baseline"], tmp_path))


def test_region_bench_cli_prints_side_by_side_figures(tmp_path, capsys, monkeypatch):
    from studio.cli import main

    monkeypatch.setenv("STUDIO_CPU_THREADS", "1")
    out = tmp_path / "rb"
    code = main(["region-bench", "--preset", "tiny-image", "--prompt", "a large red circle at the top left",
                 "--variants", "region0.5-tea0.1", "--steps", "12", "--repeats", "1", "--out", str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split()[:4] == ["variant", "slug", "denoise", "s"]
    assert lines[1].split()[:2] == ["baseline", "base"] and lines[2].split()[1] == "region0.5-tea0.1"
    assert (out / "region-bench.json").exists() and (out / "region0.5-tea0.1-regions.png").exists()
    assert main(["region-bench", "--preset", "tiny-image", "--prompt", "a red circle", "--variants",
                 "fbc0.1-region0.3"]) == 2
    assert "do not stack" in capsys.readouterr().err
