"""Few-step students by rectified-flow distillation ("reflow") on teacher noise -> sample pairs.

Method (Liu, Gong & Liu, "Flow Straight and Fast", arXiv 2209.03003; used for text-to-image as InstaFlow,
arXiv 2309.06380): run the teacher's full sampler from many noises to get pairs (noise z, teacher sample x).
On the straight line x_s = (1 - s) x + s z the teacher's own ODE is curved, but the pair defines one straight
path; a student trained to predict x from x_s at the noise levels its few-step sampler visits follows that
path in few Euler steps. With an x0-predicting network the Euler update lands exactly on the line whenever
the prediction equals x, so each of the student's steps only has to correct the previous step's error.

The student starts from the teacher's weights; only the denoiser trains (the text encoder stays shared).

Optional rollout (`rollout` > 0): for that share of a batch the noisy input at a later level is not the point on
the straight line but where the student's own sampler actually is after its earlier steps from the same noise,
with the teacher's sample still the target. Plain reflow trains each step on inputs built from the *true* endpoint,
while at sampling time a step sees the previous steps' errors; training on its own trajectory teaches it to correct
them (the train/test mismatch called exposure bias; the same remedy as "backward distillation" in Imagine Flash,
Kohler et al., arXiv 2405.05224).

Optional trajectory targets (`teacher_pairs(..., levels=...)` + `trajectory_loss`): instead of the teacher's end
point, each of the student's steps is trained to land where the teacher's own sampler stands at the student's next
level (its Euler path read at those levels), from the teacher's state at this level (or, with rollout, from the
student's own). Each step then learns one quarter of the teacher's path, not the whole noise -> picture map; this is
the segment-wise trajectory matching of SFD (Zhou et al., "Simple and Fast Distillation of Diffusion Models",
arXiv 2409.19681).
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from studio.schedule import schedule_sigmas
from studio.tiny.data import random_objects
from studio.tiny.language import ObjectSpec, format_prompt, parse_prompt
from studio.tiny.pipeline import SIGMA_FLOOR, TinyDiffusionPipeline, predict_x0
from studio.tiny.render import IMAGE_SIZE, VIDEO_FRAMES
from studio.tiny.text_encoder import objects_to_ids


@dataclass
class PairSet:
    """Teacher pairs: noise (N, ...), teacher samples x0 in [-1, 1] (N, ...), prompt attribute ids (N, K, 5)."""

    noise: torch.Tensor
    x0: torch.Tensor
    ids: torch.Tensor
    states: torch.Tensor | None = None  # (N, L, ...): the teacher's path at `levels` (trajectory targets only)
    levels: tuple[float, ...] = ()

    def __len__(self) -> int:
        return self.noise.shape[0]


def student_sigmas(pipe: TinyDiffusionPipeline, step_counts: list[int], schedule: str | None = None) -> list[float]:
    """The noise levels a sampler with each of `step_counts` steps evaluates the denoiser at (with `schedule`'s
    sigmas when the student's variants name one, else the scheduler's own default)."""
    levels: set[float] = set()
    for n in step_counts:
        sigmas = schedule_sigmas(schedule, n)
        if sigmas is None:
            pipe.scheduler.set_timesteps(n)
        else:
            pipe.scheduler.set_timesteps(sigmas=sigmas)
        levels.update(round(float(t) / 1000, 6) for t in pipe.scheduler.timesteps)
    return sorted(levels, reverse=True)


def _chunk_prompts(seed: int, chunk: int, size: int, video: bool, prompts: list[str] | None) -> list[list[ObjectSpec]]:
    rng = random.Random(seed * 1_000_003 + chunk)
    if prompts:
        return [parse_prompt(rng.choice(prompts), video=video) for _ in range(size)]
    return [random_objects(rng, video) for _ in range(size)]  # the training distribution: no held-out triple


@torch.no_grad()
def teacher_pairs(teacher: TinyDiffusionPipeline, count: int, teacher_steps: int, workdir: Path, seed: int = 0,
                  chunk_size: int = 64, prompts: list[str] | None = None, guidance_scale: float = 1.0,
                  levels: tuple[float, ...] = ()) -> PairSet:
    """Generate (or resume) `count` pairs in chunks saved under `workdir/pairs/`; each chunk is seeded alone.

    With `guidance_scale` > 1 the teacher samples with classifier-free guidance, so the student learns the guided
    result from its conditional branch alone and runs unguided (one call a step instead of two).
    With `levels` (each in (0, 1)) the teacher's state at each level is kept too (trajectory targets); the noise
    and samples are the same as without.
    """
    chunk_size = min(chunk_size, count)
    # Chunks made with other settings must never be mixed in: the settings name the folder.
    prompt_tag = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:10] if prompts else "random"
    guidance_tag = f"-g{guidance_scale:g}" if guidance_scale != 1 else ""
    levels_tag = f"-states{','.join(f'{v:g}' for v in levels)}" if levels else ""
    folder = workdir / f"pairs-{teacher_steps}steps-seed{seed}-chunk{chunk_size}-{prompt_tag}{guidance_tag}{levels_tag}"
    folder.mkdir(parents=True, exist_ok=True)
    video = teacher.is_video
    shape = teacher.latent_shape(IMAGE_SIZE, IMAGE_SIZE, VIDEO_FRAMES)
    chunks = []
    n_chunks = -(-count // chunk_size)
    for c in tqdm(range(n_chunks), desc=f"teacher pairs ({teacher_steps} steps)", mininterval=5):
        def make(c=c) -> dict:
            specs = _chunk_prompts(seed, c, chunk_size, video, prompts)
            gen = torch.Generator().manual_seed(seed * 1_000_003 + c)
            noise = torch.randn((chunk_size, *shape), generator=gen)
            path = [noise]
            (x0,) = teacher([format_prompt(s) for s in specs], num_inference_steps=teacher_steps, latents=noise,
                            guidance_scale=guidance_scale, output_type="latent", return_dict=False,
                            callback_on_step_end=(lambda p, i, t, kw: path.append(kw["latents"]) or {}) if levels
                            else None)
            if teacher.vae is None:  # pixels: the sampler can overshoot [-1, 1] a little
                x0 = x0.clamp(-1, 1)
            chunk = {"noise": noise.half(), "x0": x0.half(), "ids": objects_to_ids(specs)}
            if levels:
                sigmas = [float(v) for v in teacher.scheduler.sigmas]
                chunk["states"] = torch.stack([path_at(path, sigmas, v) for v in levels], dim=1).half()
            return chunk

        chunks.append(saved_chunk(folder / f"chunk-{c:05d}.pt", make))
    pairs = PairSet(*(torch.cat([ch[k] for ch in chunks])[:count] for k in ("noise", "x0", "ids")))
    if levels:
        pairs.states, pairs.levels = torch.cat([ch["states"] for ch in chunks])[:count], tuple(levels)
    print(f"{len(pairs)} teacher pairs ready in {folder}", file=sys.stderr)
    return pairs


def path_at(path: list[torch.Tensor], sigmas: list[float], level: float) -> torch.Tensor:
    """The sampler's state at noise level `level`, from its states `path[i]` at `sigmas[i]` (decreasing). An Euler
    step moves in a straight line between its levels, so interpolating between the two around `level` is exact."""
    for i in range(len(path) - 1):
        hi, lo = sigmas[i], sigmas[i + 1]
        if hi >= level >= lo and hi > lo:
            w = (hi - level) / (hi - lo)
            return path[i] + w * (path[i + 1] - path[i])
    raise ValueError(f"level {level} is outside the sampler's levels {sigmas[0]:g}..{sigmas[len(path) - 1]:g}")


def saved_chunk(path: Path, make: Callable[[], dict]) -> dict:
    """The tensors saved at `path`, made by `make` and saved first if absent. A chunk is either complete or absent
    (written to a temporary name, then renamed), so a killed run resumes cleanly."""
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        torch.save(make(), tmp)
        tmp.replace(path)
    return torch.load(path, weights_only=True)


def reflow_loss(transformer: torch.nn.Module, text_encoder: torch.nn.Module, pairs: PairSet, sigmas: list[float],
                batch: int, gen: torch.Generator, rollout: float = 0.0,
                trajectory: list[float] | None = None,
                perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                sample_term: Callable[..., torch.Tensor] | None = None,
                ) -> torch.Tensor:
    """Mean squared error of the student's x0 prediction against the teacher's sample (plus `perceptual`(x0_hat,
    x0) and `sample_term`(x0_hat, x0, tokens, pooled, gen) when given: studio.distill.perceptual, and the
    adversarial or distribution-matching term of studio.distill.adversarial or studio.distill.dmd).

    The input is the point on the straight noise -> teacher-sample path at a level drawn from `sigmas`; with
    `rollout` > 0 that share of the batch whose level lies on `trajectory` (the student's own sampler, from 1.0
    down) instead gets the point the student's sampler reaches there from the same noise.
    """
    idx = torch.randint(len(pairs), (batch,), generator=gen)
    noise, x0, ids = pairs.noise[idx].float(), pairs.x0[idx].float(), pairs.ids[idx]
    sigma = torch.tensor(sigmas)[torch.randint(len(sigmas), (batch,), generator=gen)]
    view = (-1,) + (1,) * (x0.dim() - 1)
    xt = (1 - sigma.view(view)) * x0 + sigma.view(view) * noise
    trajectory = trajectory or sigmas
    on_trajectory = torch.isclose(sigma.view(-1, 1), torch.tensor(trajectory).view(1, -1)).any(1)
    own = (torch.rand(batch, generator=gen) < rollout) & on_trajectory
    with torch.no_grad():
        tokens, pooled = text_encoder(ids)
        if rollout > 0 and own.any():
            xt = xt.clone()
            xt[own] = student_rollout(transformer, noise[own], sigma[own], tokens[own], pooled[own], trajectory)
    x0_hat = predict_x0(transformer, xt, sigma, tokens, pooled)
    loss = ((x0_hat - x0) ** 2).mean()
    if perceptual is not None:
        loss = loss + perceptual(x0_hat, x0)
    if sample_term is not None:
        loss = loss + sample_term(x0_hat, x0, tokens, pooled, gen)
    return loss


def trajectory_loss(transformer: torch.nn.Module, text_encoder: torch.nn.Module, pairs: PairSet,
                    trajectory: list[float], batch: int, gen: torch.Generator, rollout: float = 0.0) -> torch.Tensor:
    """Mean squared error of the student's x0 prediction against the one whose Euler step from this level lands on
    the teacher's state at the next level of `trajectory` (the student's sampler levels, from 1.0 down; the state
    after the last level is the teacher's sample). The input is the teacher's state at the level (the noise at 1.0),
    or for a `rollout` share of the batch the student's own state there."""
    levels = [float(v) for v in trajectory]
    kept = {round(v, 6): j for j, v in enumerate(pairs.levels)}
    missing = [v for v in levels[1:] if round(v, 6) not in kept]
    if pairs.states is None or missing:
        raise ValueError(f"trajectory targets need the teacher's states at {levels[1:]}; the pairs keep "
                         f"{list(pairs.levels)}")
    idx = torch.randint(len(pairs), (batch,), generator=gen)
    noise, x0, ids = pairs.noise[idx].float(), pairs.x0[idx].float(), pairs.ids[idx]
    path = [noise] + [pairs.states[idx, kept[round(v, 6)]].float() for v in levels[1:]] + [x0]
    k = torch.randint(len(levels), (batch,), generator=gen)
    rows = torch.arange(batch)
    stacked = torch.stack(path, dim=1)  # (B, levels + 1, ...)
    here, there = stacked[rows, k], stacked[rows, k + 1]
    sigma = torch.tensor(levels)[k]
    nxt = torch.tensor(levels + [0.0])[k + 1]
    own = (torch.rand(batch, generator=gen) < rollout) & (k > 0)
    with torch.no_grad():
        tokens, pooled = text_encoder(ids)
        if own.any():
            here = here.clone()
            here[own] = student_rollout(transformer, noise[own], sigma[own], tokens[own], pooled[own], levels)
    view = (-1,) + (1,) * (x0.dim() - 1)
    # the x0 whose Euler step (velocity (here - x0) / max(sigma, floor), as the pipeline) lands on `there`
    target = here - sigma.clamp(min=SIGMA_FLOOR).view(view) * (here - there) / (sigma - nxt).view(view)
    x0_hat = predict_x0(transformer, here, sigma, tokens, pooled)
    return ((x0_hat - target) ** 2).mean()


@torch.no_grad()
def student_rollout(transformer: torch.nn.Module, noise: torch.Tensor, sigma: torch.Tensor, tokens, pooled,
                    trajectory: list[float]) -> torch.Tensor:
    """Where the student's sampler (Euler on the velocity implied by its x0 prediction, as in
    TinyDiffusionPipeline) stands at each row's level `sigma`, having started from `noise` at trajectory[0].
    Every row's level must lie on the trajectory (reflow_loss passes only those)."""
    levels = torch.tensor(trajectory)
    steps_needed = (levels.view(1, -1) > sigma.view(-1, 1) + 1e-6).sum(1)  # earlier levels each row passes
    x = noise.clone()
    view = (-1,) + (1,) * (x.dim() - 1)
    for k in range(int(steps_needed.max()) if len(x) else 0):
        rows = steps_needed > k
        level = levels[k].expand(int(rows.sum()))
        x0_hat = predict_x0(transformer, x[rows], level, tokens[rows], pooled[rows])
        velocity = (x[rows] - x0_hat) / level.clamp(min=SIGMA_FLOOR).view(view)
        x[rows] = x[rows] + (levels[k + 1] - levels[k]) * velocity
    return x
