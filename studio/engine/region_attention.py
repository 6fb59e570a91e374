"""Self-attention processors for the region cache: active tokens attend to every token, not just to each other.

On a partial step only the active image tokens enter the transformer, so a layer computes their queries, keys
and values only. Each processor keeps, per layer, the image keys/values of the last step on which every token
was computed, writes the active tokens' fresh keys/values into that memory, and attends over all of it: the
active tokens still see the whole picture (inactive tokens through slightly stale keys/values). On full steps
the memory is refreshed. Text tokens are always computed in full.

The processors differ per family only in how queries/keys/values are projected, normalised and rotated; the
memory lives in `KeyValueMemory`. Cross-attention layers keep their own processors (their queries are the
active tokens, their keys are the text: nothing to merge).
"""

from __future__ import annotations

import torch
from diffusers.hooks.hooks import StateManager
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.transformers.transformer_flux import _get_qkv_projections as _flux_projections
from diffusers.models.transformers.transformer_ltx import apply_rotary_emb as _ltx_rotary
from diffusers.models.transformers.transformer_wan import _get_qkv_projections as _wan_projections


class KeyValueMemory:
    """One layer's image keys/values across steps, read and written through the region cache's state.

    The state (per cache context) provides: `mode` ("full" | "partial"), `idx` (active token indices, (n,)),
    `prefix` (text tokens in front of the image tokens in this layer's sequence) and `kv` (layer -> (k, v)).
    """

    def __init__(self, state_manager: StateManager, layer: int, original):
        self.state_manager = state_manager
        self.layer = layer
        self.original = original  # the processor this one replaced (restored on removal)
        self._attention_backend = getattr(original, "_attention_backend", None)

    def full_keys_values(self, key: torch.Tensor, value: torch.Tensor, attention_mask) -> tuple:
        """key/value (B, prefix + n, H, D) -> (B, prefix + N, H, D) on partial steps; stored on full steps."""
        state = self.state_manager.get_state()
        p = state.prefix
        if state.mode != "partial":
            state.kv[self.layer] = (key[:, p:], value[:, p:])
            return key, value
        if attention_mask is not None:
            raise ValueError("the region cache cannot subset an attention mask over image tokens; run without it")
        cached_key, cached_value = state.kv[self.layer]  # owned by this memory: updated in place
        cached_key.index_copy_(1, state.idx, key[:, p:].to(cached_key.dtype))
        cached_value.index_copy_(1, state.idx, value[:, p:].to(cached_value.dtype))
        if p == 0:
            return cached_key, cached_value
        return torch.cat([key[:, :p], cached_key], dim=1), torch.cat([value[:, :p], cached_value], dim=1)

    def attend(self, query, key, value, attention_mask) -> torch.Tensor:
        """(B, S, H, D) queries over the full keys/values -> (B, S, H*D)."""
        key, value = self.full_keys_values(key, value, attention_mask)
        out = dispatch_attention_fn(query, key, value, attn_mask=attention_mask, backend=self._attention_backend)
        return out.flatten(2, 3).to(query.dtype)


class FluxRegionAttnProcessor(KeyValueMemory):
    """FluxAttention (double blocks: text and image streams; single blocks: one concatenated stream)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        query, key, value, enc_query, enc_key, enc_value = _flux_projections(attn, hidden_states, encoder_hidden_states)
        query, key, value = (t.unflatten(-1, (-1, attn.head_dim)) for t in (query, key, value))
        query, key = attn.norm_q(query), attn.norm_k(key)
        if attn.added_kv_proj_dim is not None:  # double block: text tokens go first
            enc_query, enc_key, enc_value = (t.unflatten(-1, (-1, attn.head_dim)) for t in (enc_query, enc_key,
                                                                                              enc_value))
            query = torch.cat([attn.norm_added_q(enc_query), query], dim=1)
            key = torch.cat([attn.norm_added_k(enc_key), key], dim=1)
            value = torch.cat([enc_value, value], dim=1)
        if image_rotary_emb is not None:
            query = apply_rotary_emb(query, image_rotary_emb, sequence_dim=1)
            key = apply_rotary_emb(key, image_rotary_emb, sequence_dim=1)
        out = self.attend(query, key, value, attention_mask)
        if encoder_hidden_states is None:
            return out
        text, image = out.split_with_sizes([encoder_hidden_states.shape[1], hidden_states.shape[1]], dim=1)
        image = attn.to_out[1](attn.to_out[0](image.contiguous()))
        return image, attn.to_add_out(text.contiguous())


def _rotate_interleaved(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's rotary embedding: channel pairs (2i, 2i+1) rotated; cos/sin (1, S, 1, D) repeat each value twice."""
    even, odd = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)  # strided writes: cheaper than stacking and flattening
    out[..., 0::2] = even * c - odd * s
    out[..., 1::2] = even * s + odd * c
    return out.type_as(x)


class WanRegionAttnProcessor(KeyValueMemory):
    """WanAttention used as self-attention (blocks' attn1)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        query, key, value = _wan_projections(attn, hidden_states, None)
        query, key = attn.norm_q(query), attn.norm_k(key)
        query, key, value = (t.unflatten(2, (attn.heads, -1)) for t in (query, key, value))
        if rotary_emb is not None:
            query, key = _rotate_interleaved(query, *rotary_emb), _rotate_interleaved(key, *rotary_emb)
        out = self.attend(query, key, value, attention_mask).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


class LTXRegionAttnProcessor(KeyValueMemory):
    """LTXAttention used as self-attention (blocks' attn1)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        query = attn.norm_q(attn.to_q(hidden_states))
        key = attn.norm_k(attn.to_k(hidden_states))
        value = attn.to_v(hidden_states)
        if image_rotary_emb is not None:
            query, key = _ltx_rotary(query, image_rotary_emb), _ltx_rotary(key, image_rotary_emb)
        query, key, value = (t.unflatten(2, (attn.heads, -1)) for t in (query, key, value))
        out = self.attend(query, key, value, attention_mask)
        return attn.to_out[1](attn.to_out[0](out))
