"""A distribution-matching term for the reflow student (DMD: Yin et al., arXiv 2311.18828; DMD2, arXiv 2405.14867).

Regression onto the teacher's samples makes the student draw, where it is unsure, the average of the outlines it
could draw (README, "Step distillation"). Distribution matching asks instead that the student's samples, noised
again, look like samples of the guided teacher: two denoisers read the same noised student sample, the frozen
teacher with classifier-free guidance ("real score") and a copy of it trained online on the student's samples
("fake score"); the difference of their clean-sample predictions is the gradient of the KL divergence between the
two distributions at that noise level, and moves each student sample towards where the guided teacher would put it.
It is mode-seeking: a hedged outline is pushed to one shape, not averaged.

As in DMD, the gradient is divided, per sample, by the mean distance between the student's sample and the real
score's prediction, and the regression loss stays (DMD's own regression term is the reflow loss here). The fake
score is trained by the same backward, on the student's samples with the gradient stopped (one update per student
update; DMD2 uses several on a GPU).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from studio.tiny.pipeline import predict_x0
from studio.tiny.text_encoder import ATTRIBUTES


class DistributionMatchingTerm:
    """`weight * distribution_matching_loss + fake_score_loss` for the student's clean predictions; `fake` is the
    module to train beside the student (a copy of the teacher's denoiser)."""

    def __init__(self, teacher: nn.Module, text_encoder: nn.Module, weight: float, guidance: float,
                 levels: tuple[float, float] = (0.02, 0.98)):
        self.real = teacher.requires_grad_(False)
        self.fake = copy.deepcopy(teacher).requires_grad_(True)
        self.text_encoder = text_encoder
        self.weight, self.guidance, self.levels = weight, guidance, levels

    def _draw(self, like: torch.Tensor, gen: torch.Generator | None):
        """Noise and a noise level per row, uniform in `levels`."""
        low, high = self.levels
        return torch.randn(like.shape, generator=gen), low + (high - low) * torch.rand(like.shape[0], generator=gen)

    def __call__(self, x0_hat: torch.Tensor, x0: torch.Tensor, tokens: torch.Tensor, pooled: torch.Tensor,
                 gen: torch.Generator | None = None) -> torch.Tensor:
        sample = x0_hat.detach()
        view = (-1,) + (1,) * (sample.dim() - 1)
        noise, sigma = self._draw(sample, gen)
        noisy = (1 - sigma.view(view)) * sample + sigma.view(view) * noise
        with torch.no_grad():
            # the empty prompt (as the pipeline's guidance builds it): the unconditional half of the real score
            empty_tokens, empty_pooled = self.text_encoder(
                torch.zeros(1, tokens.shape[1], len(ATTRIBUTES), dtype=torch.long))
            cond, uncond = predict_x0(self.real, torch.cat([noisy, noisy]), sigma.repeat(2),
                                      torch.cat([tokens, empty_tokens.expand_as(tokens)]),
                                      torch.cat([pooled, empty_pooled.expand_as(pooled)])).chunk(2)
            real = uncond + self.guidance * (cond - uncond)
            fake = predict_x0(self.fake, noisy, sigma, tokens, pooled)
            scale = (sample - real).abs().flatten(1).mean(1).clamp(min=1e-6).view(view)
            step = (fake - real) / scale
        # its gradient with respect to x0_hat is `step` (per element, averaged): the student moves against it
        matching = 0.5 * ((x0_hat - (sample - step)) ** 2).mean()
        noise, sigma = self._draw(sample, gen)  # the fake score learns the student's samples, as a denoiser
        noisy = (1 - sigma.view(view)) * sample + sigma.view(view) * noise
        fake_loss = ((predict_x0(self.fake, noisy, sigma, tokens, pooled) - sample) ** 2).mean()
        return self.weight * matching + fake_loss
