"""Turn a CacheSpec into hooks on a denoiser, and take them off again.

diffusers' own caches (First-Block Cache, TaylorSeer, PAB, FasterCache, MagCache) go through
`enable_cache`/`disable_cache`; TeaCache is ours (studio.engine.teacache). `cache_applied` is a context manager
with try/finally, so a failing run never leaves hooks behind on a shared pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers.hooks import (
    FasterCacheConfig,
    FirstBlockCacheConfig,
    MagCacheConfig,
    PyramidAttentionBroadcastConfig,
    TaylorSeerCacheConfig,
)
from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

from studio.engine.region_cache import RegionCacheConfig, apply_region_cache, remove_region_cache
from studio.engine.teacache import TeaCacheConfig, apply_teacache, remove_teacache
from studio.variant import CACHE_KINDS, REGION_SCORES, CacheSpec
from studio.wording import counted

STEP_SKIPPING = ("teacache", "fbc", "magcache", "taylorseer")  # caches whose saving is whole steps not computed
FEW_STEPS = 8  # at or under this many steps a step cache seldom finds one to skip (the "4 steps")


def idle_cache_reason(spec: CacheSpec, steps: int, reused: int) -> str | None:
    """Why a step cache that reused none of a run's steps saved nothing. None when it reused some, or for caches
    that save within a step (region, PAB, FasterCache), whose timeline shows every step computed anyway."""
    if reused or spec.kind not in STEP_SKIPPING:
        return None
    if steps <= FEW_STEPS:
        return "on so few steps each one changes the sample too much to skip; usual for distilled and few-step variants"
    _, main, table = CACHE_KINDS[spec.kind]
    return f"at {main} {spec.resolved()[main]:g}; raising {main}: {table[main][4]}"


def idle_cache_note(steps: int, reason: str) -> str:
    """The card's and the log's sentence for a cache that saved nothing (`reason` from idle_cache_reason)."""
    return f"reused none of its {counted(steps, 'step')}: nothing saved ({reason})"


def _current_timestep(pipe):
    return lambda: getattr(pipe, "_current_timestep", None) or 0


# TaylorSeer's default module patterns miss some families' attention layers (it would silently cache nothing)
TAYLORSEER_IDENTIFIERS = {
    "WanTransformer3DModel": [r"^blocks\.\d+\.attn\d$"],
    "LTXVideoTransformer3DModel": [r"^transformer_blocks\.\d+\.attn\d$"],
}


def _diffusers_config(kind: str, params: dict, pipe, steps: int):
    """Library config objects for diffusers' own caches, by kind."""
    denoiser = denoiser_of(pipe)
    builders = {
        "fbc": lambda: FirstBlockCacheConfig(threshold=params["threshold"]),
        "taylorseer": lambda: TaylorSeerCacheConfig(
            cache_interval=int(params["cache_interval"]), max_order=int(params["max_order"]),
            disable_cache_before_step=int(params["warmup_steps"]), taylor_factors_dtype=denoiser.dtype,
            cache_identifiers=TAYLORSEER_IDENTIFIERS.get(type(denoiser).__name__)),
        "pab": lambda: PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=int(params["skip_range"]),
            spatial_attention_timestep_skip_range=(0, 1000), current_timestep_callback=_current_timestep(pipe)),
        "fastercache": lambda: FasterCacheConfig(
            spatial_attention_block_skip_range=int(params["skip_range"]),
            spatial_attention_timestep_skip_range=(-1, 1000), current_timestep_callback=_current_timestep(pipe),
            is_guidance_distilled=True),
        "magcache": lambda: MagCacheConfig(threshold=params["threshold"], max_skip_steps=int(params["max_skip_steps"]),
                                           num_inference_steps=steps, mag_ratios=_mag_ratios(denoiser)),
    }
    return builders[kind]()


def _mag_ratios(denoiser) -> torch.Tensor:
    """MagCache's per-step magnitude ratios are model-specific; diffusers publishes FLUX.1-dev's (28 steps,
    interpolated to the run's steps). Other models need their own, so the cache refuses them by name."""
    name = type(denoiser).__name__
    if name != "FluxTransformer2DModel":
        raise ValueError(f"cache 'magcache' needs magnitude ratios measured for the model; diffusers publishes them "
                         f"for FLUX.1 (FluxTransformer2DModel) only, not {name}; use teacache or fbc")
    return FLUX_MAG_RATIOS


def denoiser_of(pipe) -> torch.nn.Module:
    """The pipeline's denoiser: its transformer, or its UNet."""
    for name in ("transformer", "unet"):
        module = getattr(pipe, name, None)
        if module is not None:
            return module
    raise ValueError(f"{type(pipe).__name__} has neither a transformer nor a unet")


@contextmanager
def cache_applied(pipe, spec: CacheSpec | None, steps: int,
                  teacache_coefficients: tuple[float, ...] | None = None) -> Iterator[None]:
    """Apply `spec` to the pipeline's denoiser for the duration of the block (no-op for None)."""
    if spec is None:
        yield
        return
    denoiser = denoiser_of(pipe)
    params = spec.resolved()
    if spec.kind == "teacache":
        apply_teacache(denoiser, TeaCacheConfig(params["threshold"], steps, teacache_coefficients or (1.0, 0.0)))
        try:
            yield
        finally:
            remove_teacache(denoiser)
        return
    if spec.kind == "region":
        apply_region_cache(denoiser, RegionCacheConfig(
            params["active_ratio"], int(params["warmup_steps"]), int(params["refresh_every"]),
            REGION_SCORES[int(params["score"])], steps, params["teacache"], teacache_coefficients or (1.0, 0.0)))
        try:
            yield
        finally:
            remove_region_cache(denoiser)
        return
    if not hasattr(denoiser, "enable_cache"):
        raise ValueError(f"cache '{spec.kind}' needs diffusers' CacheMixin, which {type(denoiser).__name__} lacks; "
                         f"use 'teacache' or run without a cache")
    denoiser.enable_cache(_diffusers_config(spec.kind, params, pipe, steps))
    try:
        yield
    finally:
        denoiser.disable_cache()
