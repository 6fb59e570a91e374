"""The tiny random pipelines of the real diffusers classes save, reload offline and run; FBC applies to Flux/Wan."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline, StableDiffusionXLPipeline, WanPipeline
from diffusers.hooks import FirstBlockCacheConfig
from transformers import CLIPTokenizer, PreTrainedTokenizerFast

from tests.fixtures.tiny_pipelines import build_tiny_flux

FLUX_KW = dict(height=32, width=32, max_sequence_length=16, guidance_scale=3.5)
SDXL_KW = dict(height=32, width=32, guidance_scale=5.0)
WAN_KW = dict(height=16, width=16, num_frames=5, max_sequence_length=16, guidance_scale=5.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _load(cls, path):
    pipe = cls.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _hooked_modules(module: torch.nn.Module) -> int:
    """How many submodules carry at least one diffusers hook."""
    registries = (getattr(m, "_diffusers_hook", None) for m in module.modules())
    return sum(1 for registry in registries if registry is not None and registry.hooks)


def _run(pipe, steps: int, **kwargs) -> np.ndarray:
    out = pipe("a photo of a red cat", num_inference_steps=steps, output_type="np",
               generator=torch.Generator().manual_seed(0), **kwargs)
    return out.frames if hasattr(out, "frames") else out.images


def test_tiny_flux_runs(tiny_flux_path):
    pipe = _load(FluxPipeline, tiny_flux_path)
    images = _run(pipe, 4, **FLUX_KW)
    assert images.shape == (1, 32, 32, 3)
    assert np.isfinite(images).all()
    np.testing.assert_array_equal(images, _run(pipe, 4, **FLUX_KW))  # seeded: deterministic


def test_tiny_sdxl_runs(tiny_sdxl_path):
    pipe = _load(StableDiffusionXLPipeline, tiny_sdxl_path)
    images = _run(pipe, 2, **SDXL_KW)
    assert images.shape == (1, 32, 32, 3)
    assert np.isfinite(images).all()


def test_tiny_wan_runs(tiny_wan_path):
    pipe = _load(WanPipeline, tiny_wan_path)
    frames = _run(pipe, 2, **WAN_KW)
    assert frames.shape == (1, 5, 16, 16, 3)
    assert np.isfinite(frames).all()


def test_fixtures_are_deterministic(tmp_path, tiny_flux_path):
    again = build_tiny_flux(tmp_path / "again")
    first, second = (_load(FluxPipeline, p).transformer.state_dict() for p in (tiny_flux_path, again))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize(("cls", "fixture", "kwargs"), [
    (FluxPipeline, "tiny_flux_path", FLUX_KW),
    (WanPipeline, "tiny_wan_path", WAN_KW),
])
def test_first_block_cache_applies(request, cls, fixture, kwargs):
    pipe = _load(cls, request.getfixturevalue(fixture))
    baseline = _run(pipe, 4, **kwargs)
    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.2))
    try:
        assert _hooked_modules(pipe.transformer) >= 2  # the head and the remaining blocks
        cached = _run(pipe, 4, **kwargs)
    finally:
        pipe.transformer.disable_cache()
    assert _hooked_modules(pipe.transformer) == 0
    assert cached.shape == baseline.shape
    assert np.isfinite(cached).all()
    np.testing.assert_array_equal(_run(pipe, 4, **kwargs), baseline)  # disabling restores the baseline exactly


def test_tokenizers_truncate_after_reload(tiny_flux_path):
    clip = CLIPTokenizer.from_pretrained(tiny_flux_path / "tokenizer")
    words = PreTrainedTokenizerFast.from_pretrained(tiny_flux_path / "tokenizer_2")
    long_prompt = "a photo of a red cat " * 100
    ids = clip(long_prompt, padding="max_length", max_length=clip.model_max_length, truncation=True).input_ids
    assert clip.model_max_length == 77 and len(ids) == 77
    assert ids[0] == clip.bos_token_id and ids[-1] == clip.eos_token_id
    ids = words("A zebra", padding="max_length", max_length=8, truncation=True).input_ids
    assert ids == [words.convert_tokens_to_ids("a"), words.unk_token_id, words.eos_token_id] + [words.pad_token_id] * 5
