"""Architectures of the embedded models, built from diffusers' own classes.

Sizes were chosen by measuring (README, "The embedded models"): 64 tokens of 8x8-pixel patches per image,
256 tokens per 8-frame clip (2x8x8 patches), so training fits tens of minutes on two CPU cores and 50 sampling
steps fit the latency floor.
"""

from __future__ import annotations

from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel, WanTransformer3DModel

from studio.tiny.pipeline import TinyDiffusionPipeline
from studio.tiny.text_encoder import TinyTextEncoder

TEXT_DIM = 64
ARCHITECTURES = {
    # kind: (transformer class, config)
    "image": (FluxTransformer2DModel, dict(
        patch_size=1, in_channels=3 * 8 * 8, num_layers=2, num_single_layers=4, attention_head_dim=32,
        num_attention_heads=6, joint_attention_dim=TEXT_DIM, pooled_projection_dim=TEXT_DIM,
        guidance_embeds=False, axes_dims_rope=(8, 12, 12))),
    "video": (WanTransformer3DModel, dict(
        patch_size=(2, 8, 8), num_attention_heads=4, attention_head_dim=32, in_channels=3, out_channels=3,
        text_dim=TEXT_DIM, freq_dim=128, ffn_dim=512, num_layers=6, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=64)),
}


def build_pipeline(kind: str, seed: int = 0) -> TinyDiffusionPipeline:
    """A freshly initialised (untrained) embedded pipeline of `kind` ('image' or 'video')."""
    import torch

    if kind not in ARCHITECTURES:
        raise ValueError(f"unknown embedded model kind '{kind}'; known: {', '.join(ARCHITECTURES)}")
    torch.manual_seed(seed)
    cls, config = ARCHITECTURES[kind]
    return TinyDiffusionPipeline(
        transformer=cls(**config),
        text_encoder=TinyTextEncoder(dim=TEXT_DIM),
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0),
    )
