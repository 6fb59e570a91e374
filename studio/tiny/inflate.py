"""Start the latent video denoiser from a trained latent image denoiser ("inflation").

A video token holds 2 frames x 2x2 latent patches, an image token 1 frame x 2x2; every other weight has the same
shape in both kinds (same Flux size, same text encoder). So the video model can start as the image model run on
each 2-frame token: its token embedding averages the two frames' latents and its output projection writes the
prediction to both frames. Training then has to learn motion and consistency across frames, not colours, shapes
and places from scratch — the usual way video diffusion models start (from an image model's weights).

    python -m studio.tiny.train --kind video --init-from assets/tiny-image ...
"""

from __future__ import annotations

import torch

from studio.tiny.pipeline import TinyDiffusionPipeline


def _frame_layout(weight: torch.Tensor, channels: int, frames: int, dim: int) -> torch.Tensor:
    """View the token-vector axis `dim` of `weight` as (channels, frames, patch) — the adapters' packing order."""
    shape = list(weight.shape)
    shape[dim:dim + 1] = [channels, frames, shape[dim] // (channels * frames)]
    return weight.reshape(shape)


@torch.no_grad()
def inflate_image_to_video(video: TinyDiffusionPipeline, image: TinyDiffusionPipeline) -> None:
    """Copy `image`'s denoiser and text encoder into `video` (in place), spreading tokens over frames."""
    if video.vae is None or image.vae is None or not video.is_video or image.is_video:
        raise ValueError("inflation needs a latent video pipeline and a trained latent image pipeline")
    channels = image.vae.config.latent_channels
    # state_dict() tensors share storage with the parameters: copying into them sets the weights.
    vt, it = video.transformer.state_dict(), image.transformer.state_dict()
    frames = video.transformer.config.in_channels // image.transformer.config.in_channels
    if frames < 1 or vt.keys() != it.keys():
        raise ValueError("the image and video denoisers differ in more than their token size; cannot inflate")
    for name, target in vt.items():
        source = it[name].to(target.dtype)
        if name == "x_embedder.weight":  # (hidden, C*F*P) <- (hidden, C*P) / F: the mean of the frames
            _frame_layout(target, channels, frames, 1).copy_(
                _frame_layout(source, channels, 1, 1).expand(-1, -1, frames, -1) / frames)
        elif name.startswith("proj_out."):  # (C*F*P, ...) <- (C*P, ...): the same prediction for each frame
            _frame_layout(target, channels, frames, 0).copy_(_frame_layout(source, channels, 1, 0).expand(
                *([-1, frames] + [-1] * (source.dim()))))
        elif source.shape == target.shape:
            target.copy_(source)
        else:
            raise ValueError(f"cannot inflate {name}: image {tuple(source.shape)}, video {tuple(target.shape)}")
    video.text_encoder.load_state_dict(image.text_encoder.state_dict())
