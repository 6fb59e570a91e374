"""Architectures of the embedded models, built from diffusers' own classes.

Sizes were chosen by measuring (README, "The embedded models"): 64 tokens per image and per 8-frame clip,
so training fits a few hours of these CPUs and 50 sampling steps fit the latency floor. The latent kinds denoise
the autoencoder's latents (studio.tiny.autoencoder): the shipped image model is the kind `image`, the shipped
video model the kind `video8` (inflated from the image model; the other video kinds are measured in the README).
"""

from __future__ import annotations

from diffusers import AutoencoderTiny, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel, WanTransformer3DModel

from studio.tiny.autoencoder import LATENT_CHANNELS, build_autoencoder
from studio.tiny.pipeline import TinyDiffusionPipeline
from studio.tiny.text_encoder import TinyTextEncoder

TEXT_DIM = 64
_FLUX_SIZE = dict(num_layers=2, num_single_layers=4, attention_head_dim=32, num_attention_heads=6,
                  joint_attention_dim=TEXT_DIM, pooled_projection_dim=TEXT_DIM, guidance_embeds=False,
                  axes_dims_rope=(8, 12, 12))
ARCHITECTURES = {
    # kind: (transformer class, config, works on autoencoder latents)
    # pixel space, 8x8-pixel patches (the first shipped image model; it drew blobs, not shapes)
    "image-pixels": (FluxTransformer2DModel, dict(patch_size=1, in_channels=3 * 8 * 8, **_FLUX_SIZE), False),
    # 16x16x8 latents, 2x2 patches: 64 tokens of 32 numbers
    "image": (FluxTransformer2DModel, dict(patch_size=1, in_channels=LATENT_CHANNELS * 2 * 2, **_FLUX_SIZE), True),
    # 8 frames of 16x16x8 latents, 2 frames x 2x2 patches: 256 tokens of 64 numbers, rotary ids (frame, row, col)
    "video": (FluxTransformer2DModel, dict(patch_size=1, in_channels=LATENT_CHANNELS * 2 * 2 * 2, **_FLUX_SIZE),
              True),
    # 8 frames of 16x16x8 latents, all 8 frames x 2x2 patches in one token: 64 tokens of 256 numbers, so a token
    # sees its place's whole trajectory (time is in the channels, as in an image model's grid)
    "video8": (FluxTransformer2DModel, dict(patch_size=1, in_channels=LATENT_CHANNELS * 8 * 2 * 2, **_FLUX_SIZE),
               True),
    # the image and video8 layouts with 3 more single blocks (7), grown from trained ones (studio/tiny/deepen.py)
    "image-deep": (FluxTransformer2DModel, dict(patch_size=1, in_channels=LATENT_CHANNELS * 2 * 2,
                                                **{**_FLUX_SIZE, "num_single_layers": 7}), True),
    "video8-deep": (FluxTransformer2DModel, dict(patch_size=1, in_channels=LATENT_CHANNELS * 8 * 2 * 2,
                                                 **{**_FLUX_SIZE, "num_single_layers": 7}), True),
    # pixel space, 2x8x8 patches (the first shipped video model; it learned to ignore the prompt)
    "video-pixels": (WanTransformer3DModel, dict(
        patch_size=(2, 8, 8), num_attention_heads=4, attention_head_dim=32, in_channels=3, out_channels=3,
        text_dim=TEXT_DIM, freq_dim=128, ffn_dim=512, num_layers=6, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=64), False),
}


def build_pipeline(kind: str, seed: int = 0, vae: AutoencoderTiny | None = None) -> TinyDiffusionPipeline:
    """A freshly initialised (untrained) embedded pipeline of `kind` (see ARCHITECTURES).

    Latent kinds need the trained autoencoder `vae` (frozen); without one they get an untrained autoencoder,
    which is what tests of the machinery want.
    """
    import torch

    if kind not in ARCHITECTURES:
        raise ValueError(f"unknown embedded model kind '{kind}'; known: {', '.join(ARCHITECTURES)}")
    torch.manual_seed(seed)
    cls, config, latent = ARCHITECTURES[kind]
    if latent and vae is None:
        vae = build_autoencoder(seed)
    return TinyDiffusionPipeline(
        transformer=cls(**config),
        text_encoder=TinyTextEncoder(dim=TEXT_DIM),
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0),
        vae=vae.requires_grad_(False) if latent else None,
        video=kind.startswith("video"),
    )
