"""An adversarial term for the reflow student: a small prompt-conditioned critic on clean latents.

The student's squared error against the teacher's sample is least, where it is unsure of an outline, for the
average of the outlines it could draw: a lumpy blob the checker reads as the wrong shape (README, "Step
distillation"). A critic that tells the teacher's samples from the student's predictions, given the prompt,
penalises such averages whatever their distance to the target, which is what adversarial distillation adds to a
regression loss (ADD, Sauer et al., arXiv 2311.17042). Two critics (`--critic`):

- `latent`: a small network of its own on the clean latents; a step costs little more than plain reflow, but on
  the embedded models it stayed near chance (README, "Step distillation").
- `teacher`: as LADD (Sauer et al., arXiv 2403.12015), the frozen teacher is the critic's backbone. Both samples are
  noised again to a random level with the same noise, the teacher reads them, and small heads score the image tokens
  of each of its blocks. The teacher already knows which outlines go with which words, so the heads need learn
  little; a step costs two more teacher passes (one of them backpropagated to the student).

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

    def forward(self, latents: torch.Tensor, tokens: torch.Tensor, pooled: torch.Tensor,
                gen: torch.Generator | None = None) -> torch.Tensor:
        """Scores (B,); `tokens` and `gen` are unused (the teacher critic's interface)."""
        if latents.dim() == 5:
            latents = latents.flatten(1, 2)
        features = self.body(latents)
        return self.score(features).squeeze(1) + (self.prompt(pooled) * features).sum(1)


class TokenHead(nn.Module):
    """Scores one block's image tokens (B, N, D) laid out on their square grid, projection-conditioned on the prompt."""

    def __init__(self, dim: int, pooled_dim: int, width: int):
        super().__init__()
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(dim, width, 3, padding=1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, width, 3, padding=1)), nn.LeakyReLU(0.2))
        self.score = spectral_norm(nn.Conv2d(width, 1, 1))
        self.prompt = spectral_norm(nn.Linear(pooled_dim, width))

    def forward(self, features: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        b, n, d = features.shape
        side = int(round(n ** 0.5))
        if side * side != n:  # distillation runs at the trained size, whose token grid is square (8 x 8)
            raise ValueError(f"the teacher critic needs a square grid of image tokens, got {n} tokens")
        h = self.body(features.transpose(1, 2).reshape(b, d, side, side))  # (B, width, side, side)
        return self.score(h).mean((1, 2, 3)) + (self.prompt(pooled)[:, :, None, None] * h).sum(1).mean((1, 2))


class TeacherCritic(nn.Module):
    """Scores clean latents by what the frozen teacher's blocks make of them once noised again to a level drawn from
    `levels` (LADD). Only the heads are parameters: the teacher is held outside the module, so it is neither trained,
    nor saved in checkpoints, nor switched on by `requires_grad_`."""

    def __init__(self, teacher: nn.Module, pooled_dim: int, width: int = 64, levels: tuple[float, float] = (0.2, 0.8)):
        super().__init__()
        from studio.tiny.pipeline import denoiser_adapter, unwrap_module

        inner = unwrap_module(teacher).requires_grad_(False)
        self._teacher = (teacher, denoiser_adapter(teacher))  # a tuple: not a submodule
        self.blocks = [*inner.transformer_blocks, *inner.single_transformer_blocks]
        dim = inner.config.num_attention_heads * inner.config.attention_head_dim
        self.heads = nn.ModuleList(TokenHead(dim, pooled_dim, width) for _ in self.blocks)
        self.levels = levels

    def features(self, latents: torch.Tensor, tokens, pooled, noise: torch.Tensor, sigma: torch.Tensor):
        """Each block's image tokens (B, N, D) for `latents` noised to `sigma` (B,) with `noise`."""
        teacher, adapter = self._teacher
        view = (-1,) + (1,) * (latents.dim() - 1)
        noisy = (1 - sigma.view(view)) * latents + sigma.view(view) * noise
        seen: list[torch.Tensor] = []
        hooks = [block.register_forward_hook(lambda _m, _i, out: seen.append(out[1])) for block in self.blocks]
        try:
            adapter(teacher, noisy, sigma, tokens, pooled)
        finally:
            for hook in hooks:
                hook.remove()
        return seen

    def score(self, features: list[torch.Tensor], pooled: torch.Tensor) -> torch.Tensor:
        return sum(head(f, pooled) for head, f in zip(self.heads, features, strict=True))

    def draw(self, latents: torch.Tensor, gen: torch.Generator | None):
        """The noise and levels a pair of samples is read at (the same for the teacher's and the student's)."""
        noise = torch.randn(latents.shape, generator=gen)
        low, high = self.levels
        return noise, low + (high - low) * torch.rand(latents.shape[0], generator=gen)

    def forward(self, latents: torch.Tensor, tokens, pooled, gen: torch.Generator | None = None) -> torch.Tensor:
        return self.score(self.features(latents, tokens, pooled, *self.draw(latents, gen)), pooled)


def critic_for(latent_shape: tuple[int, ...], pooled_dim: int, kind: str = "latent",
               teacher: nn.Module | None = None) -> nn.Module:
    """A critic for latents of `latent_shape` (one sample's shape: (C, H, W) or (C, F, H, W)); `kind` "teacher"
    reads them with the frozen `teacher` transformer."""
    if kind == "teacher":
        if teacher is None:
            raise ValueError("the teacher critic needs the teacher's transformer")
        return TeacherCritic(teacher, pooled_dim)
    if kind != "latent":
        raise ValueError(f"unknown critic '{kind}'; known: latent, teacher")
    channels = latent_shape[0] * (latent_shape[1] if len(latent_shape) == 4 else 1)
    return LatentCritic(channels, pooled_dim)


class AdversarialTerm:
    """`weight * generator_loss + critic_loss`: added to the student's loss, trains both through one backward."""

    def __init__(self, critic: nn.Module, weight: float):
        self.critic = critic
        self.weight = weight

    def __call__(self, x0_hat: torch.Tensor, x0: torch.Tensor, tokens: torch.Tensor, pooled: torch.Tensor,
                 gen: torch.Generator | None = None) -> torch.Tensor:
        if isinstance(self.critic, TeacherCritic):
            return self._teacher_read(x0_hat, x0, tokens, pooled, gen)
        real = self.critic(x0, tokens, pooled)
        fake = self.critic(x0_hat.detach(), tokens, pooled)
        return self._combine(real, fake, lambda: -self.critic(x0_hat, tokens, pooled).mean())

    def _teacher_read(self, x0_hat, x0, tokens, pooled, gen) -> torch.Tensor:
        """As __call__, with the teacher's passes shared: the student's sample is read once (its features keep the
        graph to the student) and scored twice, detached for the critic and whole for the generator term."""
        critic = self.critic
        noise, sigma = critic.draw(x0, gen)
        with torch.no_grad():
            real_features = critic.features(x0, tokens, pooled, noise, sigma)
        fake_features = critic.features(x0_hat, tokens, pooled, noise, sigma)
        real = critic.score(real_features, pooled)
        fake = critic.score([f.detach() for f in fake_features], pooled)
        return self._combine(real, fake, lambda: -critic.score(fake_features, pooled).mean())

    def _combine(self, real: torch.Tensor, fake: torch.Tensor, generator_term) -> torch.Tensor:
        critic_loss = torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
        # The generator term with the critic's parameters out of the graph: its gradient reaches the student
        # only, so the critic is never trained to be fooled.
        self.critic.requires_grad_(False)
        try:
            generator_loss = generator_term()
        finally:
            self.critic.requires_grad_(True)
        return self.weight * generator_loss + critic_loss
