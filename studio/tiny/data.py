"""Prompt distributions for training and held-out evaluation of the embedded models.

Held-out combinations: a fixed ~1/7 of the (color, shape, position) triples never appear in a training prompt.
Evaluation prompts are built from those triples (new combinations) and sampled with seeds from a separate
range (new noise), so adherence measures generalisation, not recall.
"""

from __future__ import annotations

import random

import torch

from studio.tiny.language import COLORS, MOTIONS, POSITIONS, SHAPES, SIZES, ObjectSpec, format_prompt
from studio.tiny.render import render_scene, sample_scene

EVAL_SEED_OFFSET = 10_000_000  # evaluation seeds never overlap the training stream's
MAX_EVAL_SEED = 2**31 - 1  # a held-out set's noise seeds (offset + seed * 100,000 + i) stay in a 64-bit integer


def is_held_out(color: str, shape: str, position: str | None) -> bool:
    if position is None:
        return False
    return (COLORS.index(color) + 2 * SHAPES.index(shape) + 3 * POSITIONS.index(position)) % 7 == 3


def _random_object(rng: random.Random, video: bool, held_out: bool, taken_color: str | None,
                   taken_position: str | None) -> ObjectSpec:
    while True:
        color = rng.choice([c for c in COLORS if c != taken_color])
        shape = rng.choice(SHAPES)
        position = rng.choice([p for p in POSITIONS if p != taken_position])
        if not held_out and rng.random() < 0.25:
            position = None  # unplaced objects: the model must pick a place itself
        if is_held_out(color, shape, position) == held_out:
            break
    size = rng.choice(SIZES) if held_out or rng.random() < 0.75 else None
    motion = None
    if video and rng.random() < 0.8:
        motion = rng.choice(MOTIONS)
    return ObjectSpec(shape=shape, color=color, size=size, position=position, motion=motion)


def random_objects(rng: random.Random, video: bool, held_out: bool = False) -> list[ObjectSpec]:
    """One prompt's objects: one object (60%) or two with different colours and positions."""
    first = _random_object(rng, video, held_out, None, None)
    if rng.random() < 0.6:
        return [first]
    second = _random_object(rng, video, held_out if rng.random() < 0.5 else False, first.color, first.position)
    return [first, second]


COMBINATIONS = ("held-out", "trained")
_TRAINED_SET_OFFSET = 500_000  # the trained-combination sets draw from their own stream


def _fully_specified_trained(rng: random.Random, video: bool) -> list[ObjectSpec]:
    """Objects of trained triples only, each placed and sized as a held-out prompt's are."""
    while True:
        objects = random_objects(rng, video)
        if all(o.position is not None and not is_held_out(o.color, o.shape, o.position) for o in objects):
            return [ObjectSpec(shape=o.shape, color=o.color, size=o.size or rng.choice(SIZES), position=o.position,
                               motion=o.motion) for o in objects]


def eval_prompts(count: int, video: bool, seed: int = 0, combinations: str = "held-out") -> list[str]:
    """`count` distinct evaluation prompts, every object fully specified: with at least one held-out triple
    ("held-out", the goal's measure), or made only of trained triples ("trained": the same sampler on combinations
    it has seen, which tells generalisation to new combinations apart from drawing as such)."""
    if combinations not in COMBINATIONS:
        raise ValueError(f"combinations must be one of {', '.join(COMBINATIONS)}; got {combinations!r}")
    trained = combinations == "trained"
    rng = random.Random(EVAL_SEED_OFFSET + seed + (_TRAINED_SET_OFFSET if trained else 0))
    prompts: list[str] = []
    while len(prompts) < count:
        objects = _fully_specified_trained(rng, video) if trained else random_objects(rng, video, held_out=True)
        p = format_prompt(objects)
        if p not in prompts:
            prompts.append(p)
    return prompts


def training_batch(rng: random.Random, batch: int, video: bool, frames: int) -> tuple[list[list[ObjectSpec]],
                                                                                   torch.Tensor]:
    """Prompts and renders in [-1, 1]: (B, 3, H, W) for images, (B, 3, F, H, W) for video."""
    specs = [random_objects(rng, video) for _ in range(batch)]
    images = torch.stack([render_scene(sample_scene(s, rng, frames if video else 1)) for s in specs])
    return specs, images * 2 - 1
