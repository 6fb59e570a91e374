"""An adversarial term for the reflow student: a small prompt-conditioned critic on clean latents.

The student's squared error against the teacher's sample is least, where it is unsure of an outline, for the
average of the outlines it could draw: a lumpy blob the checker reads as the wrong shape (README, "Step
distillation"). A critic that tells the teacher's samples from the student's predictions, given the prompt,
penalises such averages whatever their distance to the target, which is what adversarial distillation adds to a
regression loss (ADD, Sauer et al., arXiv 2311.17042; here in latent space, as LADD, arXiv 2403.12015, but with a
critic of its own instead of the teacher's features, so a step costs little more than plain reflow).

Hinge losses, spectral-normalised critic, projection conditioning on the prompt's pooled embedding (Miyato &
Koyama, arXiv 1802.05637). One optimizer trains student and critic together: the critic's parameters see only its
own loss and the student only the generator term, because each term is computed with the other side out of the graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class LatentCritic(nn.Module):
    """Scores a clean latent (B, C, H, W), or a clip's latents (B, C, F, H, W) with frames folded into channels,
    for how much it looks like the teacher's sample for the prompt whose pooled embedding is given."""

    def __init__(self, channels: int, pooled_dim: int, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(channels, width, 3, padding=1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            spectral_norm(nn.Linear(2 * width * 16, 4 * width)), nn.LeakyReLU(0.2))
        self.score = spectral_norm(nn.Linear(4 * width, 1))
        self.prompt = spectral_norm(nn.Linear(pooled_dim, 4 * width))

    def forward(self, latents: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        if latents.dim() == 5:
            latents = latents.flatten(1, 2)
        features = self.body(latents)
        return self.score(features).squeeze(1) + (self.prompt(pooled) * features).sum(1)


def critic_for(latent_shape: tuple[int, ...], pooled_dim: int) -> LatentCritic:
    """A critic for latents of `latent_shape` (one sample's shape: (C, H, W) or (C, F, H, W))."""
    channels = latent_shape[0] * (latent_shape[1] if len(latent_shape) == 4 else 1)
    return LatentCritic(channels, pooled_dim)


class AdversarialTerm:
    """`weight * generator_loss + critic_loss`: added to the student's loss, trains both through one backward."""

    def __init__(self, critic: LatentCritic, weight: float):
        self.critic = critic
        self.weight = weight

    def __call__(self, x0_hat: torch.Tensor, x0: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        real = self.critic(x0, pooled)
        fake = self.critic(x0_hat.detach(), pooled)
        critic_loss = torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
        # The generator term with the critic's parameters out of the graph: its gradient reaches the student
        # only, so the critic is never trained to be fooled.
        self.critic.requires_grad_(False)
        try:
            generator_loss = -self.critic(x0_hat, pooled).mean()
        finally:
            self.critic.requires_grad_(True)
        return self.weight * generator_loss + critic_loss
