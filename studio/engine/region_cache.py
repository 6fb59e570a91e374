"""Region-aware caching: recompute only the image tokens that are still changing, reuse the rest.

After Region-Adaptive Sampling (RAS; Liu et al., "Region-Adaptive Sampling for Diffusion Transformers",
arXiv 2502.10389). At each step the tokens are ranked by how much they are still changing; only the top
`active_ratio` of them enter the transformer blocks — a shorter sequence, so the saving is real compute — and the
model's output for the others is the one cached when they were last computed. Details:

- Tokens are cut after the patch embedding (Wan's conv patch embedding, Flux's linear `x_embedder`, LTX's
  `proj_in` run on the full grid: cheap) and the rotary embedding is computed for the full grid, then both are
  gathered for the active tokens — each token keeps its own position. Text tokens are always computed in full.
- Self-attention: active tokens attend to all tokens, through keys/values cached per layer (region_attention).
- After the last block the active tokens are scattered back so the output norm/projection and unpatchify see the
  full grid; then inactive tokens take their cached output.
- Scoring (`score`): "drift" ranks by the output change per step a token showed when last computed, times the
  steps since (an estimate of the drift its cached output has accumulated: no token starves); "change" by that
  change alone (the recomputed region stays on what moves; settled tokens wait for a full refresh); "input" by
  how far the token's embedded input moved since it was last computed.
- Full steps: the first `warmup_steps` (at least one), every `refresh_every`-th step, and the last step.
- Stacked with TeaCache (`teacache_threshold` > 0): TeaCache's accumulated modulated-input change decides
  whether a step runs at all (a skipped step reuses the whole cached output); the region rule decides which
  tokens run on the steps that do.

State is per cache context (cond/uncond) and resets with the pipeline's `maybe_free_model_hooks`; the last
run's per-step activity stays readable through `region_activity`.

Example:
    apply_region_cache(pipe.transformer, RegionCacheConfig(active_ratio=0.3, num_inference_steps=50))
    pipe(...); print(region_activity(pipe.transformer)["computed_token_fraction"])
    remove_region_cache(pipe.transformer)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks._helpers import TransformerBlockRegistry
from diffusers.hooks.hooks import BaseState, StateManager
from diffusers.utils.torch_utils import unwrap_module

from studio.engine.region_attention import FluxRegionAttnProcessor, LTXRegionAttnProcessor, WanRegionAttnProcessor
from studio.engine.teacache import MODULATED_INPUT, _blocks, rescaled_change

_MODEL_HOOK = "region_cache_model"
_BLOCK_HOOK = "region_cache_block"
SCORES = ("drift", "change", "input")


@dataclass
class RegionCacheConfig:
    """active_ratio: share of image tokens recomputed on partial steps (lower: faster, further from baseline).
    warmup_steps: full steps at the start, while the layout forms (raise: slower, safer; the first step is always
        full; on the embedded video model, at active ratio 0.3, 10 of 50 gave 37-38 dB where 4 gave 29-31 dB).
    refresh_every: a full step every k steps, refreshing cached outputs and keys/values (0 = never; lower: slower,
        closer). score: "drift", "change" or "input" (see the module docstring).
    num_inference_steps: so the last step is computed in full.
    teacache_threshold, teacache_coefficients: stack TeaCache's step skipping on top (0 = off)."""

    active_ratio: float = 0.5
    warmup_steps: int = 10
    refresh_every: int = 10
    score: str = "drift"
    num_inference_steps: int = 50
    teacache_threshold: float = 0.0
    teacache_coefficients: tuple[float, ...] = (1.0, 0.0)

    def __post_init__(self):
        if not 0 < self.active_ratio <= 1:
            raise ValueError(f"active_ratio must be in (0, 1], got {self.active_ratio}")
        if self.score not in SCORES:
            raise ValueError(f"unknown region score '{self.score}'; known: {', '.join(SCORES)}")
        if self.warmup_steps < 0 or self.refresh_every < 0 or self.teacache_threshold < 0:
            raise ValueError("warmup_steps, refresh_every and teacache_threshold must not be negative")


# ---- what differs between transformer families ----------------------------------------------------------------
def _gather_rows(pair, idx: torch.Tensor, dim: int, prefix: int = 0):
    """(cos, sin) rotary tables: keep the first `prefix` rows (text) and the rows of the active image tokens."""
    rows = torch.cat([torch.arange(prefix, device=idx.device), prefix + idx])
    return tuple(t.index_select(dim, rows) for t in pair)


def _wan_tokens(module, sample: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) output -> (B, N, C*pt*ph*pw), tokens in the patch embedding's (f, h, w) order."""
    pt, ph, pw = module.config.patch_size
    b, c, f, h, w = sample.shape
    x = sample.reshape(b, c, f // pt, pt, h // ph, ph, w // pw, pw).permute(0, 2, 4, 6, 1, 3, 5, 7)
    return x.reshape(b, (f // pt) * (h // ph) * (w // pw), -1)


def _wan_untokens(module, tokens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    pt, ph, pw = module.config.patch_size
    b, c, f, h, w = like.shape
    x = tokens.reshape(b, f // pt, h // ph, w // pw, c, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(like.shape)


def _flux_grid(module, args: dict) -> tuple[int, int, int]:
    ids = args["img_ids"]
    ids = ids[0] if ids.ndim == 3 else ids
    frames, rows, cols = (int(ids[:, k].max()) + 1 for k in range(3))  # the embedded video's ids: (frame, row, col)
    n = args["hidden_states"].shape[1]
    return (frames, rows, cols) if frames * rows * cols == n else (1, 1, n)


def _wan_grid(module, args: dict) -> tuple[int, int, int]:
    pt, ph, pw = module.config.patch_size
    _, _, f, h, w = args["hidden_states"].shape
    return f // pt, h // ph, w // pw


def _ltx_grid(module, args: dict) -> tuple[int, int, int]:
    n = args["hidden_states"].shape[1]
    dims = tuple(args.get(k) or 0 for k in ("num_frames", "height", "width"))
    return dims if dims[0] * dims[1] * dims[2] == n else (1, 1, n)


def _ltx_temb(temb: torch.Tensor, idx: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """LTX conditioning gives each token its own timestep embedding (B, N, 6C); otherwise (B, 1, 6C)."""
    return temb.index_select(1, idx) if temb.ndim == 3 and temb.shape[1] == n_tokens > 1 else temb


def _wan_temb(temb: torch.Tensor, idx: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Wan 2.2 style per-token timesteps give (B, N, 6, C); the usual per-sample one is (B, 6, C)."""
    return temb.index_select(1, idx) if temb.ndim == 4 else temb


@dataclass(frozen=True)
class _Family:
    rotary_arg: str  # the blocks' rotary-embedding parameter
    attention: str  # the blocks' self-attention attribute
    processor: type
    gather_rotary: Callable  # (rotary, idx, prefix) -> rotary of the active tokens
    text_prefix: Callable[[dict], int]  # text tokens ahead of the image tokens in self-attention
    grid: Callable  # (module, model args) -> token grid (frames, rows, cols)
    to_tokens: Callable = lambda module, sample: sample  # model output -> (B, N, C)
    from_tokens: Callable = lambda module, tokens, like: tokens
    gather_temb: Callable | None = None


FAMILIES = {
    "FluxTransformer2DModel": _Family(
        "image_rotary_emb", "attn", FluxRegionAttnProcessor,
        gather_rotary=lambda rot, idx, prefix: _gather_rows(rot, idx, 0, prefix),
        text_prefix=lambda args: args["encoder_hidden_states"].shape[1], grid=_flux_grid),
    "WanTransformer3DModel": _Family(
        "rotary_emb", "attn1", WanRegionAttnProcessor,
        gather_rotary=lambda rot, idx, prefix: _gather_rows(rot, idx, 1), text_prefix=lambda args: 0,
        grid=_wan_grid, to_tokens=_wan_tokens, from_tokens=_wan_untokens, gather_temb=_wan_temb),
    "LTXVideoTransformer3DModel": _Family(
        "image_rotary_emb", "attn1", LTXRegionAttnProcessor,
        gather_rotary=lambda rot, idx, prefix: _gather_rows(rot, idx, 1), text_prefix=lambda args: 0,
        grid=_ltx_grid, gather_temb=_ltx_temb),
}


def family_of(module: torch.nn.Module) -> _Family:
    name = type(unwrap_module(module)).__name__
    if name not in FAMILIES:
        raise ValueError(f"the region cache needs a token transformer of a known family; {name} is not one "
                         f"(known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


# ---- state ------------------------------------------------------------------------------------------------------
class _RegionState(BaseState):
    def __init__(self):
        self.reset()

    def reset(self):
        self.step = 0
        self.mode = "full"  # this step: full | partial | skip
        self.idx: torch.Tensor | None = None  # (n,) active token indices on a partial step
        self.rotary = None  # rotary embedding of the active tokens
        self.temb = None  # per-token timestep embedding of the active tokens (when the family has one)
        self.prefix = 0
        self.block_input: torch.Tensor | None = None  # (B, N, C) first block's input this step
        self.output: torch.Tensor | None = None  # (B, N, Co) cached model output, token view
        self.rate: torch.Tensor | None = None  # (N,) output change per step when each token was last computed
        self.last_computed: torch.Tensor | None = None  # (N,) step each token was last computed
        self.seen_input: torch.Tensor | None = None  # (B, N, C) block input when each token was last computed
        self.last_full = 0
        self.kv: dict = {}  # layer -> image (keys, values), (B, N, H, D)
        self.tea_previous: torch.Tensor | None = None
        self.tea_accumulated = 0.0


def _bind(cls: type, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by name, so they can be read and replaced whether passed by position or keyword.
    (A dict of parameter names, not inspect's bind: that costs ~0.2 ms a call, which adds up on tiny models.)"""
    if cls not in _PARAMETERS:
        _PARAMETERS[cls] = list(inspect.signature(cls.forward).parameters)[1:]  # without self
    arguments = dict(zip(_PARAMETERS[cls], args, strict=False))  # the rest of the parameters come as keywords
    arguments.update(kwargs)
    return arguments


def _call(forward, arguments: dict):
    return forward(**arguments)


_PARAMETERS: dict[type, list[str]] = {}


class _RegionModelHook(ModelHook):
    """On the denoiser: plans each step, and merges fresh outputs of active tokens into the cached output."""

    _is_stateful = True

    def __init__(self, state_manager: StateManager, config: RegionCacheConfig, family: _Family):
        super().__init__()
        self.state_manager = state_manager
        self.config = config
        self.family = family
        self.grid: tuple[int, int, int] | None = None
        self.log: dict[str, list] = {}  # context -> [(mode, active indices or None)] for the run under way
        self.last_run: dict[str, list] = {}

    def new_forward(self, module, *args, **kwargs):
        state: _RegionState = self.state_manager.get_state()
        if state.step >= self.config.num_inference_steps:  # a run that ended without a reset: start afresh
            state.reset()
        context = self.state_manager.context.name
        if state.step == 0 and context in self.log:  # a new run: keep the finished one readable
            self.last_run, self.log = self.log, {}
        arguments = _bind(type(module), args, kwargs)
        self.grid = self.family.grid(module, arguments)
        state.mode = self._plan(state)
        out = _call(self.fn_ref.original_forward, arguments)
        sample = out[0] if isinstance(out, tuple) else out.sample
        merged = self._merge(state, self.family.to_tokens(module, sample))
        sample = self.family.from_tokens(module, merged, sample).to(sample.dtype)
        self.log.setdefault(context, []).append(
            (state.mode, state.idx.cpu() if state.mode == "partial" else None))
        state.step += 1
        return (sample, *out[1:]) if isinstance(out, tuple) else type(out)(sample=sample)

    def _plan(self, state: _RegionState) -> str:
        c = self.config
        if (state.output is None or state.step < max(1, c.warmup_steps) or state.step >= c.num_inference_steps - 1
                or (c.refresh_every and state.step - state.last_full >= c.refresh_every)):
            return "full"
        return "partial"

    def _merge(self, state: _RegionState, tokens: torch.Tensor) -> torch.Tensor:
        """Cached output with this step's fresh tokens written in; updates each token's change rate."""
        if state.mode == "skip":
            return state.output
        step = state.step
        if state.mode == "full" or state.output is None:
            idx = torch.arange(tokens.shape[1], device=tokens.device)
            fresh = tokens
            state.last_full = step
        else:
            idx, fresh = state.idx, tokens.index_select(1, state.idx)
        if state.output is None:
            state.rate = torch.ones(tokens.shape[1], device=tokens.device)
            state.last_computed = torch.full((tokens.shape[1],), step, device=tokens.device)
            state.output = tokens
            return tokens
        age = (step - state.last_computed[idx]).clamp(min=1).float()
        change = (fresh - state.output.index_select(1, idx)).abs().float().mean(dim=(0, 2))
        state.rate = state.rate.index_copy(0, idx, change / age)
        state.last_computed = state.last_computed.index_copy(0, idx, torch.full_like(idx, step))
        state.output = fresh if state.mode == "full" else state.output.index_copy(1, idx, fresh.to(state.output.dtype))
        return state.output

    def reset_state(self, module):
        if self.log:
            self.last_run, self.log = self.log, {}
        self.state_manager.reset()
        return module


class _RegionBlockHook(ModelHook):
    """On each block: the first one picks the active tokens and gathers them; every block gets their rotary
    embedding; the last one scatters them back into the full grid. On skipped steps blocks are identities."""

    def __init__(self, state_manager: StateManager, config: RegionCacheConfig, family: _Family,
                 is_head: bool, is_tail: bool):
        super().__init__()
        self.state_manager = state_manager
        self.config = config
        self.family = family
        self.is_head, self.is_tail = is_head, is_tail

    def initialize_hook(self, module):
        self._cls = type(unwrap_module(module))
        self._metadata = TransformerBlockRegistry.get(self._cls)
        return module

    def new_forward(self, module, *args, **kwargs):
        state: _RegionState = self.state_manager.get_state()
        arguments = _bind(self._cls, args, kwargs)
        if self.is_head:
            self._begin_step(state, arguments, module)
        if state.mode == "skip":
            return self._identity(arguments)
        if state.mode == "partial":
            arguments[self.family.rotary_arg] = state.rotary
            if state.temb is not None:
                arguments["temb"] = state.temb
        out = _call(self.fn_ref.original_forward, arguments)
        if self.is_tail and state.mode == "partial":
            out = self._scatter(state, out)
        return out

    def _begin_step(self, state: _RegionState, arguments: dict, block) -> None:
        hidden = arguments["hidden_states"]  # (B, N, C)
        state.block_input = hidden
        state.prefix = self.family.text_prefix(arguments)
        if self.config.teacache_threshold > 0:
            self._teacache_decision(state, arguments, block)
        if state.mode == "partial":
            n_tokens = hidden.shape[1]
            state.idx = self._select(state, hidden)
            arguments["hidden_states"] = hidden.index_select(1, state.idx)
            state.rotary = self.family.gather_rotary(arguments[self.family.rotary_arg], state.idx, state.prefix)
            gather_temb = self.family.gather_temb
            state.temb = gather_temb(arguments["temb"], state.idx, n_tokens) if gather_temb else None
        if self.config.score == "input" and state.mode != "skip":
            if state.mode == "full" or state.seen_input is None:
                state.seen_input = hidden
            else:
                state.seen_input = state.seen_input.index_copy(1, state.idx, hidden.index_select(1, state.idx))

    @torch.compiler.disable
    def _teacache_decision(self, state: _RegionState, arguments: dict, block) -> None:
        """TeaCache's rule on top: skip the whole step while the accumulated modulated-input change is small."""
        modulated = MODULATED_INPUT.get(self._cls.__name__, lambda b, h, k: h)(
            unwrap_module(block), arguments["hidden_states"], arguments)
        previous, state.tea_previous = state.tea_previous, modulated
        if state.mode != "partial" or previous is None:
            state.tea_accumulated = 0.0
            return
        state.tea_accumulated += rescaled_change(previous, modulated, self.config.teacache_coefficients)
        if state.tea_accumulated < self.config.teacache_threshold:
            state.mode = "skip"
        else:
            state.tea_accumulated = 0.0

    def _select(self, state: _RegionState, hidden: torch.Tensor) -> torch.Tensor:
        """Indices (sorted) of the top `active_ratio` tokens by how much they are still changing."""
        n_tokens = hidden.shape[1]
        if self.config.score == "input":
            priority = (hidden - state.seen_input).abs().float().mean(dim=(0, 2))
        elif self.config.score == "change":
            priority = state.rate
        else:  # drift: the change rate times the steps the cached output has gone without an update
            priority = state.rate * (state.step - state.last_computed).float()
        k = max(1, min(n_tokens, round(self.config.active_ratio * n_tokens)))
        return priority.topk(k).indices.sort().values

    def _scatter(self, state: _RegionState, out):
        """The last block's active-token output written into the full grid (other tokens: anything; the model
        hook replaces them with their cached output)."""
        meta = self._metadata
        hidden = out[meta.return_hidden_states_index] if isinstance(out, tuple) else out
        full = state.block_input.index_copy(1, state.idx, hidden.to(state.block_input.dtype))
        if not isinstance(out, tuple):
            return full
        out = list(out)
        out[meta.return_hidden_states_index] = full
        return tuple(out)

    def _identity(self, arguments: dict):
        meta = self._metadata
        if meta.return_encoder_hidden_states_index is None:
            return arguments["hidden_states"]
        out = [None, None]
        out[meta.return_hidden_states_index] = arguments["hidden_states"]
        out[meta.return_encoder_hidden_states_index] = arguments["encoder_hidden_states"]
        return tuple(out)


# ---- public entry points --------------------------------------------------------------------------------------
def apply_region_cache(module: torch.nn.Module, config: RegionCacheConfig) -> StateManager:
    """Hook the denoiser and its blocks, and swap its self-attention processors; undo with remove_region_cache."""
    family = family_of(module)
    module = unwrap_module(module)
    blocks = _blocks(module)
    if not blocks:
        raise ValueError(f"the region cache found no transformer blocks in {type(module).__name__}")
    for block in blocks:  # check everything before hooking anything, so a refusal leaves the model untouched
        TransformerBlockRegistry.get(type(unwrap_module(block)))  # raises for unsupported block classes
        if not hasattr(getattr(block, family.attention, None), "processor"):
            raise ValueError(f"{type(block).__name__} has no self-attention '{family.attention}' with a processor")
    state_manager = StateManager(_RegionState, (), {})
    HookRegistry.check_if_exists_or_initialize(module).register_hook(
        _RegionModelHook(state_manager, config, family), _MODEL_HOOK)
    for i, block in enumerate(blocks):
        HookRegistry.check_if_exists_or_initialize(block).register_hook(
            _RegionBlockHook(state_manager, config, family, is_head=i == 0, is_tail=i == len(blocks) - 1),
            _BLOCK_HOOK)
        attention = getattr(block, family.attention)
        attention.set_processor(family.processor(state_manager, i, attention.processor))
    HookRegistry.check_if_exists_or_initialize(module).invalidate_child_registries_cache()
    return state_manager


def remove_region_cache(module: torch.nn.Module) -> None:
    family = family_of(module)
    module = unwrap_module(module)
    for block in _blocks(module):
        HookRegistry.check_if_exists_or_initialize(block).remove_hook(_BLOCK_HOOK, recurse=False)
        attention = getattr(block, family.attention)
        if isinstance(attention.processor, family.processor):
            attention.set_processor(attention.processor.original)
    registry = HookRegistry.check_if_exists_or_initialize(module)
    registry.remove_hook(_MODEL_HOOK, recurse=False)
    registry.invalidate_child_registries_cache()


def region_activity(module: torch.nn.Module) -> dict | None:
    """Per-step activity of the last finished run (or the one under way), or None without a region cache.

    Returns {"grid": [frames, rows, cols] of the token grid, "modes": ["full" | "partial" | "skip", ...],
    "active_fraction": [share of tokens computed, per step], "computed_token_fraction": over all steps and
    cache contexts, "masks": one string of '0'/'1' per step, a character per token in grid order (f, h, w)}.
    Per-step lists follow the first cache context (the conditional pass).
    """
    registry = getattr(unwrap_module(module), "_diffusers_hook", None)
    hook = registry.get_hook(_MODEL_HOOK) if registry is not None else None
    if hook is None or hook.grid is None:
        return None
    log = hook.log or hook.last_run
    if not log:
        return None
    n_tokens = hook.grid[0] * hook.grid[1] * hook.grid[2]

    def mask(mode, idx) -> str:
        if mode != "partial":
            return ("1" if mode == "full" else "0") * n_tokens
        bits = ["0"] * n_tokens
        for i in idx.tolist():
            bits[i] = "1"
        return "".join(bits)

    first = next(iter(log.values()))
    masks = [mask(mode, idx) for mode, idx in first]
    all_steps = [s for steps in log.values() for s in steps]
    computed = sum(n_tokens if m == "full" else (len(i) if m == "partial" else 0) for m, i in all_steps)
    return {"grid": list(hook.grid), "modes": [m for m, _ in first],
            "active_fraction": [round(s.count("1") / n_tokens, 4) for s in masks],
            "computed_token_fraction": round(computed / (n_tokens * len(all_steps)), 4), "masks": masks}
