"""Region cache on tiny random Flux, Wan and LTX transformers: exactness, shorter sequences, positions, recipes."""

from __future__ import annotations

import pytest
import torch
from diffusers import FluxTransformer2DModel, LTXVideoTransformer3DModel, WanTransformer3DModel

from studio.engine.region_attention import KeyValueMemory
from studio.engine.region_cache import (
    FAMILIES,
    RegionCacheConfig,
    _gather_rows,
    _wan_tokens,
    _wan_untokens,
    apply_region_cache,
    family_of,
    region_activity,
    remove_region_cache,
)
from studio.variant import CacheSpec, RecipeError, Variant, parse_slug


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.set_num_threads(threads)


def _flux():
    torch.manual_seed(0)
    model = FluxTransformer2DModel(patch_size=1, in_channels=8, num_layers=1, num_single_layers=2,
                                   attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                   pooled_projection_dim=16, axes_dims_rope=(2, 2, 4)).eval()
    rows, cols = torch.meshgrid(torch.arange(4), torch.arange(5), indexing="ij")
    img_ids = torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).reshape(-1, 3).float()

    def inputs(step: int) -> dict:
        g = torch.Generator().manual_seed(step)
        return dict(hidden_states=torch.randn(1, 20, 8, generator=g), encoder_hidden_states=torch.randn(
            1, 3, 16, generator=g), pooled_projections=torch.randn(1, 16, generator=g),
            timestep=torch.tensor([1 - step / 10]), img_ids=img_ids, txt_ids=torch.zeros(3, 3))

    return model, inputs, 20


def _wan():
    torch.manual_seed(0)
    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4,
                                  out_channels=4, text_dim=16, freq_dim=32, ffn_dim=32, num_layers=2,
                                  cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32).eval()

    def inputs(step: int) -> dict:
        g = torch.Generator().manual_seed(step)
        return dict(hidden_states=torch.randn(1, 4, 2, 8, 6, generator=g),
                    encoder_hidden_states=torch.randn(1, 3, 16, generator=g), timestep=torch.tensor([900. - step]))

    return model, inputs, 2 * 4 * 3


def _ltx():
    torch.manual_seed(0)
    model = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, num_attention_heads=2, attention_head_dim=8,
                                       cross_attention_dim=16, num_layers=2, caption_channels=16).eval()

    def inputs(step: int) -> dict:
        g = torch.Generator().manual_seed(step)
        return dict(hidden_states=torch.randn(1, 24, 8, generator=g),
                    encoder_hidden_states=torch.randn(1, 3, 16, generator=g), timestep=torch.tensor([900 - step]),
                    encoder_attention_mask=torch.ones(1, 3), num_frames=2, height=3, width=4)

    return model, inputs, 24


def _ltx_per_token():
    """LTX with a timestep per token (as LTXConditionPipeline gives conditioning frames): (B, N, 6C) embeddings."""
    model, inputs, n_tokens = _ltx()
    return model, lambda step: dict(inputs(step), timestep=torch.linspace(900 - step, 100, n_tokens)[None]), n_tokens


MODELS = {"flux": _flux, "wan": _wan, "ltx": _ltx, "ltx-per-token": _ltx_per_token}


def _run(model, inputs, steps: list[int]) -> list[torch.Tensor]:
    """One denoiser call per entry (the entry picks the inputs), inside a cache context; then the end-of-run reset."""
    outs = []
    for s in steps:
        with model.cache_context("cond"):
            outs.append(model(**inputs(s), return_dict=False)[0])
    model._reset_stateful_cache()
    return outs


class _QueryLengths:
    """Sequence length entering every self-attention's query projection, per call."""

    def __init__(self, model):
        family = family_of(model)
        self.lengths: list[int] = []
        blocks = [b for name in ("transformer_blocks", "single_transformer_blocks", "blocks")
                  for b in getattr(model, name, [])]
        self.handles = [getattr(b, family.attention).to_q.register_forward_pre_hook(
            lambda m, a: self.lengths.append(a[0].shape[1])) for b in blocks]
        self.per_call = len(blocks)

    def calls(self) -> list[list[int]]:
        n = self.per_call
        return [self.lengths[i:i + n] for i in range(0, len(self.lengths), n)]


@pytest.mark.parametrize("name", list(MODELS))
def test_ratio_one_equals_uncached_run(name):
    model, inputs, _ = MODELS[name]()
    steps = list(range(6))
    reference = _run(model, inputs, steps)
    apply_region_cache(model, RegionCacheConfig(active_ratio=1.0, warmup_steps=1, refresh_every=0,
                                                num_inference_steps=6))
    cached = _run(model, inputs, steps)
    modes = region_activity(model)["modes"]
    assert modes.count("partial") == 4  # the partial path ran (gather, key/value memory, scatter), on all tokens
    for a, b in zip(reference, cached, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_partial_step_runs_fewer_tokens_and_matches_full_step_on_same_input(name):
    """Same input twice: step 0 full, step 1 recomputes half the tokens. With every other token's keys/values and
    output unchanged, the partial step must reproduce the full output exactly, on a shorter sequence."""
    model, inputs, n_tokens = MODELS[name]()
    full = _run(model, inputs, [0])[0]
    apply_region_cache(model, RegionCacheConfig(active_ratio=0.5, warmup_steps=1, refresh_every=0,
                                                num_inference_steps=10))
    probe = _QueryLengths(model)
    outs = _run(model, inputs, [0, 0])
    torch.testing.assert_close(outs[1], full, rtol=1e-4, atol=1e-5)
    first, second = probe.calls()
    active = n_tokens // 2
    assert [f - s for f, s in zip(first, second, strict=True)] == [n_tokens - active] * len(first)
    activity = region_activity(model)
    assert activity["modes"] == ["full", "partial"]
    assert activity["masks"][1].count("1") == active and len(activity["masks"][1]) == n_tokens
    assert activity["computed_token_fraction"] == pytest.approx((n_tokens + active) / (2 * n_tokens))


@pytest.mark.parametrize("name", list(MODELS))
def test_state_resets_between_runs_and_removal_restores_the_model(name):
    model, inputs, _ = MODELS[name]()
    steps = list(range(8))
    reference = _run(model, inputs, steps)
    originals = [type(m.processor) for m in model.modules() if hasattr(m, "processor")]
    apply_region_cache(model, RegionCacheConfig(active_ratio=0.3, warmup_steps=2, refresh_every=3,
                                                num_inference_steps=8))
    first, second = _run(model, inputs, steps), _run(model, inputs, steps)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    assert any(not torch.allclose(a, r) for a, r in zip(first, reference, strict=True))  # it did cache something
    modes = region_activity(model)["modes"]
    assert modes == ["full", "full", "partial", "partial", "full", "partial", "partial", "full"]  # warm-up, refresh
    remove_region_cache(model)
    assert [type(m.processor) for m in model.modules() if hasattr(m, "processor")] == originals
    assert not any(isinstance(m.processor, KeyValueMemory) for m in model.modules() if hasattr(m, "processor"))
    for a, r in zip(_run(model, inputs, steps), reference, strict=True):
        assert torch.equal(a, r)


def test_flux_subset_rotary_matches_ids_of_those_positions():
    model, inputs, _ = _flux()
    args = inputs(0)
    txt, img = args["txt_ids"], args["img_ids"]
    idx = torch.tensor([1, 4, 7, 19])
    full = model.pos_embed(torch.cat([txt, img]))
    direct = model.pos_embed(torch.cat([txt, img[idx]]))
    gathered = FAMILIES["FluxTransformer2DModel"].gather_rotary(full, idx, txt.shape[0])
    for g, d in zip(gathered, direct, strict=True):
        torch.testing.assert_close(g, d)


def test_wan_subset_rotary_matches_grid_positions():
    """Token i of the patch grid is (frame, row, col) in row-major order; its gathered rotary row must be built from
    exactly those three positions' frequencies."""
    model, inputs, _ = _wan()
    x = inputs(0)["hidden_states"]  # (1, 4, 2, 8, 6) -> grid (2, 4, 3)
    cos, sin = model.rope(x)
    idx = torch.tensor([0, 5, 13, 23])
    g_cos, g_sin = _gather_rows((cos, sin), idx, 1)
    rope = model.rope
    sizes = [rope.t_dim, rope.h_dim, rope.w_dim]
    parts_cos, parts_sin = rope.freqs_cos.split(sizes, dim=1), rope.freqs_sin.split(sizes, dim=1)
    for row, i in enumerate(idx.tolist()):
        f, h, w = i // 12, (i // 3) % 4, i % 3
        expected_cos = torch.cat([parts_cos[0][f], parts_cos[1][h], parts_cos[2][w]])
        expected_sin = torch.cat([parts_sin[0][f], parts_sin[1][h], parts_sin[2][w]])
        torch.testing.assert_close(g_cos[0, row, 0], expected_cos.to(g_cos.dtype))
        torch.testing.assert_close(g_sin[0, row, 0], expected_sin.to(g_sin.dtype))


def test_wan_token_view_round_trips_and_groups_patches():
    model, _, _ = _wan()
    x = torch.arange(4 * 2 * 8 * 6, dtype=torch.float32).reshape(1, 4, 2, 8, 6)
    tokens = _wan_tokens(model, x)
    assert tokens.shape == (1, 24, 4 * 1 * 2 * 2)
    assert torch.equal(_wan_untokens(model, tokens, x), x)
    # token 4 = frame 0, patch row 1, patch col 1: pixels rows 2-3, cols 2-3 of frame 0
    assert set(tokens[0, 4].tolist()) == set(x[0, :, 0, 2:4, 2:4].flatten().tolist())


def test_activity_grid_and_masks_follow_the_token_grid():
    model, inputs, _ = _wan()
    apply_region_cache(model, RegionCacheConfig(active_ratio=0.25, warmup_steps=1, refresh_every=0,
                                                num_inference_steps=5))
    _run(model, inputs, range(5))
    activity = region_activity(model)
    assert activity["grid"] == [2, 4, 3]
    assert activity["active_fraction"] == [1.0, 0.25, 0.25, 0.25, 1.0]  # first and last steps in full
    assert all(len(m) == 24 for m in activity["masks"])


def test_teacache_on_top_skips_whole_steps():
    model, inputs, _ = _wan()
    apply_region_cache(model, RegionCacheConfig(active_ratio=0.5, warmup_steps=1, refresh_every=0,
                                                num_inference_steps=6, teacache_threshold=5.0))
    probe = _QueryLengths(model)
    outs = _run(model, inputs, range(6))
    modes = region_activity(model)["modes"]
    assert modes[0] == "full" and modes[-1] == "full" and "skip" in modes
    assert len(probe.calls()) == 6 - modes.count("skip")  # skipped steps run no attention at all
    for i, mode in enumerate(modes):
        if mode == "skip":
            assert torch.equal(outs[i], outs[i - 1])  # the whole cached output


def test_unsupported_denoiser_and_bad_config_are_refused():
    with pytest.raises(ValueError, match="known: FluxTransformer2DModel"):
        apply_region_cache(torch.nn.Linear(2, 2), RegionCacheConfig())
    with pytest.raises(ValueError, match="active_ratio"):
        RegionCacheConfig(active_ratio=0.0)
    with pytest.raises(ValueError, match="known: drift, change, input"):
        RegionCacheConfig(score="random")


def test_recipe_validation_slugs_and_stacking():
    v = Variant("r", cache=CacheSpec("region", 0.3, (("warmup_steps", 8),)))
    assert v.slug == "region0.3ws8" and v.cache.resolved()["warmup_steps"] == 8
    stacked = parse_slug("int8wo-region0.3-tea0.15")
    assert stacked.cache.kind == "region" and stacked.cache.resolved()["teacache"] == 0.15
    assert stacked.slug == "int8wo-region0.3-tea0.15" and parse_slug(stacked.slug) == stacked
    assert parse_slug("tea0.15-region0.3").cache == stacked.cache
    with pytest.raises(RecipeError, match="do not stack"):
        parse_slug("fbc0.1-region0.3")
    with pytest.raises(RecipeError, match=r"out of range \[0.01, 1.0\]"):
        CacheSpec("region", 0.0)
    with pytest.raises(RecipeError, match="score"):
        CacheSpec("region", 0.5, (("score", 3),))


def test_input_score_picks_the_tokens_whose_input_moved():
    """Step 1 changes the input of 6 patches only: with the 'input' rule those 6 tokens are the ones recomputed."""
    model, inputs, n_tokens = _wan()
    moved = [1, 7, 8, 15, 20, 23]  # token (f, r, c) covers frame f, rows 2r..2r+1, cols 2c..2c+1
    x = inputs(0)["hidden_states"]
    y = x.clone()
    for i in moved:
        f, r, c = i // 12, (i // 3) % 4, i % 3
        y[:, :, f, 2 * r:2 * r + 2, 2 * c:2 * c + 2] += 1.0
    apply_region_cache(model, RegionCacheConfig(active_ratio=6 / n_tokens, warmup_steps=1, refresh_every=0,
                                                num_inference_steps=10, score="input"))
    _run(model, lambda s: dict(inputs(0), hidden_states=(x, y)[s]), [0, 1])
    mask = region_activity(model)["masks"][1]
    assert [i for i, bit in enumerate(mask) if bit == "1"] == moved


@pytest.mark.parametrize(("score", "expected"), [("change", [0]), ("drift", [1])])
def test_drift_lets_stale_tokens_catch_up_while_change_stays_on_the_fastest(score, expected):
    """Token 0 changed fastest but was computed last step; token 1 changed a little less, 5 steps ago."""
    from studio.engine.region_cache import _RegionBlockHook, _RegionState

    family = FAMILIES["WanTransformer3DModel"]
    hook = _RegionBlockHook(None, RegionCacheConfig(active_ratio=0.25, score=score), family, True, True)
    state = _RegionState()
    state.step = 10
    state.rate = torch.tensor([1.0, 0.6, 0.1, 0.1])
    state.last_computed = torch.tensor([9, 5, 9, 9])
    assert hook._select(state, torch.zeros(1, 4, 8)).tolist() == expected


def test_region_with_compile_is_refused_with_a_reason():
    with pytest.raises(RecipeError, match="does not stack with compile"):
        parse_slug("region0.3-compile")
    assert parse_slug("int8wo-region0.3").quant.method == "int8wo"  # quantization stacks


def test_region_on_few_steps_without_partial_steps_is_refused():
    with pytest.raises(RecipeError, match="computes all of 4 steps in full"):
        Variant("d", cache=CacheSpec("region", 0.3, (("warmup_steps", 4),)), steps=4)
    assert Variant("d", cache=CacheSpec("region", 0.3, (("warmup_steps", 1),)), steps=4).slug == "region0.3ws1-s4"
