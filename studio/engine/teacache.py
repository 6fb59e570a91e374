"""TeaCache as a diffusers-style hook, a sibling of diffusers' First-Block Cache.

TeaCache (Liu et al., "Timestep Embedding Tells: It's Time to Cache for Video Diffusion Model", 2024) skips the
whole transformer body on steps whose *modulated input* (the first block's normalised, timestep-modulated
hidden states) barely changed: it accumulates the relative L1 change, rescaled by a per-family polynomial, and
reuses the body's cached residual while the sum stays under the threshold. The first and last steps are always
computed. State lives per cache context (cond/uncond) and is reset between runs.

Example:
    apply_teacache(pipe.transformer, TeaCacheConfig(threshold=0.3, num_inference_steps=50,
                                                   coefficients=(1.0, 0.0)))
    ...; remove_teacache(pipe.transformer)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS
from diffusers.hooks._helpers import TransformerBlockRegistry
from diffusers.hooks.hooks import BaseState, StateManager
from diffusers.utils.torch_utils import unwrap_module

_HEAD_HOOK = "teacache_head"
_BLOCK_HOOK = "teacache_block"


@dataclass
class TeaCacheConfig:
    """threshold: accumulated rescaled change allowed before recomputing (raise: faster, further from baseline).
    coefficients: rescale polynomial, highest power first (numpy.polyval order); (1, 0) is the identity.
    num_inference_steps: so the last step is always computed."""

    threshold: float = 0.3
    num_inference_steps: int = 50
    coefficients: tuple[float, ...] = (1.0, 0.0)


def _modulated_flux(block, hidden_states, kwargs):
    return block.norm1(hidden_states, emb=kwargs["temb"])[0]


def _modulated_wan(block, hidden_states, kwargs):
    temb = kwargs["temb"]
    if temb.ndim == 4:  # per-token timesteps (Wan 2.2 style): (B, N, 6, C)
        shift, scale = (block.scale_shift_table.unsqueeze(0) + temb.float()).chunk(6, dim=2)[:2]
        shift, scale = shift.squeeze(2), scale.squeeze(2)
    else:
        shift, scale = (block.scale_shift_table + temb.float()).chunk(6, dim=1)[:2]
    return block.norm1(hidden_states.float()) * (1 + scale) + shift


def _modulated_ltx(block, hidden_states, kwargs):
    temb = kwargs["temb"]
    values = block.scale_shift_table[None, None] + temb.reshape(
        temb.size(0), temb.size(1), block.scale_shift_table.shape[0], -1)
    shift, scale = values.unbind(dim=2)[:2]
    return block.norm1(hidden_states) * (1 + scale) + shift


# First-block class -> its modulated input; other blocks fall back to the raw hidden states (still a fair signal)
MODULATED_INPUT = {
    "FluxTransformerBlock": _modulated_flux,
    "WanTransformerBlock": _modulated_wan,
    "LTXVideoTransformerBlock": _modulated_ltx,
}


def modulated_input(block: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """A block's (hidden states, modulated input) from the arguments of its call, positional (as Wan passes them)
    or keyword."""
    block = unwrap_module(block)
    modulate = MODULATED_INPUT.get(type(block).__name__)
    meta = TransformerBlockRegistry.get(type(block))
    hidden = meta._get_parameter_from_args_kwargs("hidden_states", args, kwargs)
    if modulate is None:
        return hidden, hidden
    return hidden, modulate(block, hidden, {"temb": meta._get_parameter_from_args_kwargs("temb", args, kwargs)})


def rescaled_change(previous: torch.Tensor, current: torch.Tensor, coefficients: tuple[float, ...]) -> float:
    """TeaCache's per-step signal: relative L1 change of the modulated input, through the rescale polynomial."""
    rel = ((current - previous).abs().mean() / previous.abs().mean().clamp(min=1e-8)).item()
    value = 0.0
    for c in coefficients:  # Horner: polynomial, highest power first
        value = value * rel + c
    return abs(value)


class _TeaCacheState(BaseState):
    def __init__(self):
        self.reset()

    def reset(self):
        self.step = 0
        self.previous_modulated: torch.Tensor | None = None
        self.accumulated = 0.0
        self.should_compute = True
        self.inputs: tuple | None = None
        self.residuals: tuple | None = None
        self.decisions: list[bool] = []  # True = computed, per step


class _TeaCacheHeadHook(ModelHook):
    _is_stateful = True

    def __init__(self, state_manager: StateManager, config: TeaCacheConfig):
        super().__init__()
        self.state_manager = state_manager
        self.config = config

    def initialize_hook(self, module):
        self._module = unwrap_module(module)
        self._metadata = TransformerBlockRegistry.get(self._module.__class__)
        return module

    def new_forward(self, module, *args, **kwargs):
        meta = self._metadata
        hidden, modulated = modulated_input(self._module, args, kwargs)
        encoder = None
        if meta.return_encoder_hidden_states_index is not None:
            encoder = meta._get_parameter_from_args_kwargs("encoder_hidden_states", args, kwargs)
        state: _TeaCacheState = self.state_manager.get_state()
        state.should_compute = self._decide(state, modulated)
        state.decisions.append(state.should_compute)
        state.step += 1
        if state.should_compute:
            state.inputs = (hidden, encoder)
            return self.fn_ref.original_forward(*args, **kwargs)
        hidden_out = hidden + state.residuals[0]
        if encoder is None:
            return hidden_out
        out = [None, None]
        out[meta.return_hidden_states_index] = hidden_out
        out[meta.return_encoder_hidden_states_index] = encoder + state.residuals[1]
        return tuple(out)

    @torch.compiler.disable
    def _decide(self, state: _TeaCacheState, modulated: torch.Tensor) -> bool:
        previous, state.previous_modulated = state.previous_modulated, modulated
        last = state.step >= self.config.num_inference_steps - 1
        if previous is None or last or state.residuals is None:
            state.accumulated = 0.0
            return True
        state.accumulated += rescaled_change(previous, modulated, self.config.coefficients)
        if state.accumulated < self.config.threshold:
            return False
        state.accumulated = 0.0
        return True

    def reset_state(self, module):
        self.state_manager.reset()
        return module


class _TeaCacheBlockHook(ModelHook):
    def __init__(self, state_manager: StateManager, is_tail: bool):
        super().__init__()
        self.state_manager = state_manager
        self.is_tail = is_tail

    def initialize_hook(self, module):
        self._metadata = TransformerBlockRegistry.get(unwrap_module(module).__class__)
        return module

    def new_forward(self, module, *args, **kwargs):
        meta = self._metadata
        state: _TeaCacheState = self.state_manager.get_state()
        if state.should_compute:
            output = self.fn_ref.original_forward(*args, **kwargs)
            if self.is_tail:
                hidden_in, encoder_in = state.inputs
                if isinstance(output, tuple):
                    hidden_out = output[meta.return_hidden_states_index]
                    encoder_out = (output[meta.return_encoder_hidden_states_index]
                                   if meta.return_encoder_hidden_states_index is not None else None)
                else:
                    hidden_out, encoder_out = output, None
                encoder_res = encoder_out - encoder_in if encoder_out is not None and encoder_in is not None else None
                state.residuals = (hidden_out - hidden_in, encoder_res)
            return output
        hidden = meta._get_parameter_from_args_kwargs("hidden_states", args, kwargs)
        if meta.return_encoder_hidden_states_index is None:
            return hidden
        out = [None, None]
        out[meta.return_hidden_states_index] = hidden
        out[meta.return_encoder_hidden_states_index] = meta._get_parameter_from_args_kwargs(
            "encoder_hidden_states", args, kwargs)
        return tuple(out)


def _blocks(module: torch.nn.Module) -> list[torch.nn.Module]:
    blocks = []
    for name, child in module.named_children():
        if name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS and isinstance(child, torch.nn.ModuleList):
            blocks.extend(child)
    return blocks


def apply_teacache(module: torch.nn.Module, config: TeaCacheConfig) -> StateManager:
    """Register TeaCache hooks on a transformer's blocks; returns the state manager (for statistics).
    A torch.compile wrapper is looked through: the hooks go on the wrapped module's blocks."""
    module = unwrap_module(module)
    blocks = _blocks(module)
    if len(blocks) < 2:
        raise ValueError(f"TeaCache needs a transformer with at least two blocks; {type(module).__name__} has "
                         f"{len(blocks)} in {', '.join(_ALL_TRANSFORMER_BLOCK_IDENTIFIERS)}")
    for block in blocks:
        TransformerBlockRegistry.get(type(unwrap_module(block)))  # raises for unsupported block classes
    state_manager = StateManager(_TeaCacheState, (), {})
    HookRegistry.check_if_exists_or_initialize(blocks[0]).register_hook(
        _TeaCacheHeadHook(state_manager, config), _HEAD_HOOK)
    for i, block in enumerate(blocks[1:], start=1):
        HookRegistry.check_if_exists_or_initialize(block).register_hook(
            _TeaCacheBlockHook(state_manager, is_tail=i == len(blocks) - 1), _BLOCK_HOOK)
    module._teacache_state = state_manager
    HookRegistry.check_if_exists_or_initialize(module).invalidate_child_registries_cache()
    return state_manager


def remove_teacache(module: torch.nn.Module) -> None:
    module = unwrap_module(module)
    for block in _blocks(module):
        registry = HookRegistry.check_if_exists_or_initialize(block)
        registry.remove_hook(_HEAD_HOOK, recurse=False)
        registry.remove_hook(_BLOCK_HOOK, recurse=False)
    if hasattr(module, "_teacache_state"):
        del module._teacache_state
    HookRegistry.check_if_exists_or_initialize(module).invalidate_child_registries_cache()
