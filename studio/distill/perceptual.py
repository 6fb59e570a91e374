"""A perceptual term for the reflow student: LPIPS between the decoded student prediction and the teacher's sample.

Mean squared error in latent space rewards hedging: where the student is unsure of an object's outline, the
average of the outlines it could draw costs least, and that average is a lumpy or stretched blob that the checker
reads as the wrong shape. LPIPS compares the decoded pictures by deep features, which a smeared outline does not
match. InstaFlow (Liu et al., arXiv 2309.06380) trains its distilled one-step student with LPIPS for the same
reason. The decoder and LPIPS' AlexNet stay frozen; only the gradient flows through them to the student.
On the embedded image model it measured no gain at weight 1 (README, "Step distillation"); it is offered for
models where the latent error is a worse proxy for the picture.

Video: the first and last frames only (a clip's middle frames cost decoding time and tell LPIPS little more; the
checker reads motion from the first and last frames).
"""

from __future__ import annotations

import copy

import torch

from studio.tiny.pipeline import decode_with


class LatentLpips:
    """`weight * LPIPS(decode(x0_hat), decode(x0))`, averaged over the batch (and the two frames of a clip)."""

    def __init__(self, pipe, weight: float):
        from studio.metrics.lpips_offline import get_lpips_model

        if pipe.vae is None:
            raise ValueError("the perceptual term needs the pipeline's autoencoder (this model samples in pixels)")
        self.lpips = get_lpips_model()  # raises LpipsUnavailable, saying which command fetches the weights
        # A float32 copy: the pipeline's decoder may run in bfloat16 for sampling speed.
        self.vae = copy.deepcopy(pipe.vae).float().requires_grad_(False)
        self.weight = weight

    def _pixels(self, latents: torch.Tensor) -> torch.Tensor:
        if latents.dim() == 5:  # (B, C, F, H, W): first and last frames
            latents = latents[:, :, [0, -1]]
        pixels = decode_with(self.vae, latents).clamp(-1, 1)
        if pixels.dim() == 5:
            pixels = pixels.permute(0, 2, 1, 3, 4).flatten(0, 1)
        return pixels

    def __call__(self, x0_hat: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self._pixels(x0)
        return self.weight * self.lpips(self._pixels(x0_hat), target).mean()
