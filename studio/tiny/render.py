"""Procedural scenes for the embedded models: sample a concrete scene for a prompt, render it with torch.

A prompt fixes colour and shape; everything else varies from sample to sample (place, size, hue, rotation,
speed, background), so one prompt has many right answers. That spread is what makes few-step sampling without
distillation blur: it averages the modes.

Coordinates are fractions of the frame, x to the right and y downwards. Images are (3, H, W) in [0, 1].
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from studio.tiny.language import COLORS, POSITIONS, SHAPES, ObjectSpec

IMAGE_SIZE = 64
VIDEO_FRAMES = 8

PALETTE = {  # base RGB of each colour word; samples jitter around it
    "red": (0.90, 0.12, 0.12),
    "green": (0.12, 0.78, 0.18),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.90, 0.12),
    "purple": (0.62, 0.18, 0.85),
    "white": (0.96, 0.96, 0.96),
    "orange": (1.00, 0.55, 0.08),
    "cyan": (0.10, 0.85, 0.90),
}
POSITION_CENTERS = {
    "center": (0.5, 0.5), "left": (0.22, 0.5), "right": (0.78, 0.5), "top": (0.5, 0.22), "bottom": (0.5, 0.78),
    "top left": (0.22, 0.22), "top right": (0.78, 0.22), "bottom left": (0.22, 0.78), "bottom right": (0.78, 0.78),
}
SIZE_RADII = {"small": (0.075, 0.095), "large": (0.14, 0.17)}  # radius range, fraction of the frame
POSITION_JITTER = 0.06
COLOR_JITTER = 0.07
BACKGROUND_RANGE = (0.04, 0.36)  # backgrounds stay muted so objects stand out
TRAVEL_RANGE = (0.18, 0.30)  # distance a moving object covers over the clip
GROWTH_RANGE = (0.45, 0.75)  # log of the radius ratio last/first frame
MOTION_VECTORS = {"moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1)}

assert set(PALETTE) == set(COLORS) and set(POSITION_CENTERS) == set(POSITIONS)


@dataclass(frozen=True)
class SceneObject:
    """One rendered object: per-frame centre, radius and angle (lists of length `frames`)."""

    shape: str
    rgb: tuple[float, float, float]
    cx: tuple[float, ...]
    cy: tuple[float, ...]
    radius: tuple[float, ...]
    angle: tuple[float, ...]


@dataclass(frozen=True)
class Background:
    kind: str  # linear | radial
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    direction: float
    texture_seed: int
    texture_amp: float
    stripe_amp: float
    stripe_freq: float
    stripe_angle: float


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: Background
    frames: int


def sample_scene(objects: list[ObjectSpec], rng: random.Random, frames: int = 1) -> Scene:
    """Draw one concrete scene that satisfies `objects` (a parsed prompt)."""
    placed: list[SceneObject] = []
    centers: list[tuple[float, float]] = []
    for spec in objects:
        for _ in range(20):  # keep unplaced objects apart from placed ones
            cx, cy = _sample_center(spec.position, rng)
            if all(math.hypot(cx - x, cy - y) > 0.3 for x, y in centers):
                break
        centers.append((cx, cy))
        placed.append(_sample_object(spec, cx, cy, rng, frames))
    return Scene(tuple(placed), _sample_background(rng), frames)


def _sample_center(position: str | None, rng: random.Random) -> tuple[float, float]:
    if position is None:
        return rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
    x, y = POSITION_CENTERS[position]
    return x + rng.uniform(-POSITION_JITTER, POSITION_JITTER), y + rng.uniform(-POSITION_JITTER, POSITION_JITTER)


def _sample_object(spec: ObjectSpec, cx: float, cy: float, rng: random.Random, frames: int) -> SceneObject:
    size = spec.size or rng.choice(("small", "large"))
    radius = rng.uniform(*SIZE_RADII[size])
    rgb = tuple(min(1.0, max(0.0, c + rng.uniform(-COLOR_JITTER, COLOR_JITTER))) for c in PALETTE[spec.color])
    angle0 = rng.uniform(0, 2 * math.pi) if spec.shape != "circle" else 0.0
    spin = rng.uniform(-0.25, 0.25) if spec.shape != "circle" else 0.0
    travel = rng.uniform(*TRAVEL_RANGE)
    growth = rng.uniform(*GROWTH_RANGE)
    xs, ys, rs, angles = [], [], [], []
    for f in range(frames):
        # phase runs from -0.5 (first frame) to +0.5 (last): the named position is the middle of the path
        phase = f / (frames - 1) - 0.5 if frames > 1 else 0.0
        dx, dy = MOTION_VECTORS.get(spec.motion, (0, 0))
        xs.append(cx + dx * travel * phase)
        ys.append(cy + dy * travel * phase)
        g = {"growing": growth, "shrinking": -growth}.get(spec.motion, 0.0)
        rs.append(radius * math.exp(g * phase))
        angles.append(angle0 + spin * f)
    return SceneObject(spec.shape, rgb, tuple(xs), tuple(ys), tuple(rs), tuple(angles))


def _sample_background(rng: random.Random) -> Background:
    def muted() -> tuple[float, float, float]:
        return tuple(rng.uniform(*BACKGROUND_RANGE) for _ in range(3))

    return Background(
        kind=rng.choice(("linear", "radial")),
        color_a=muted(),
        color_b=muted(),
        direction=rng.uniform(0, 2 * math.pi),
        texture_seed=rng.randrange(2**31),
        texture_amp=rng.choice((0.0, rng.uniform(0.02, 0.07))),
        stripe_amp=rng.choice((0.0, 0.0, rng.uniform(0.02, 0.05))),
        stripe_freq=rng.uniform(3, 8),
        stripe_angle=rng.uniform(0, math.pi),
    )


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return x, y  # (H, W) each


def render_background(bg: Background, size: int = IMAGE_SIZE) -> torch.Tensor:
    """(3, H, W) in [0, 1]."""
    x, y = _grid(size)
    if bg.kind == "linear":
        s = (x - 0.5) * math.cos(bg.direction) + (y - 0.5) * math.sin(bg.direction) + 0.5
    else:
        s = torch.sqrt((x - 0.5 - 0.3 * math.cos(bg.direction)) ** 2 + (y - 0.5 - 0.3 * math.sin(bg.direction)) ** 2)
    s = s.clamp(0, 1)
    a = torch.tensor(bg.color_a).view(3, 1, 1)
    b = torch.tensor(bg.color_b).view(3, 1, 1)
    img = a * (1 - s) + b * s
    if bg.texture_amp > 0:  # smooth, low-frequency texture: variation the model can learn, unlike pixel noise
        g = torch.Generator().manual_seed(bg.texture_seed)
        coarse = torch.randn(1, 3, 6, 6, generator=g)
        img = img + bg.texture_amp * torch.nn.functional.interpolate(
            coarse, size=(size, size), mode="bicubic", align_corners=False)[0]
    if bg.stripe_amp > 0:
        u = x * math.cos(bg.stripe_angle) + y * math.sin(bg.stripe_angle)
        img = img + bg.stripe_amp * torch.sin(2 * math.pi * bg.stripe_freq * u)
    return img.clamp(0, 1)


def shape_alpha(shape: str, cx: float, cy: float, radius: float, angle: float, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Anti-aliased coverage (H, W) in [0, 1] of one shape; `radius` is the circumradius-like scale."""
    x, y = _grid(size)
    dx, dy = x - cx, y - cy
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    if shape == "circle":
        dist = torch.sqrt(u**2 + v**2) - radius
    elif shape == "square":
        dist = torch.maximum(u.abs(), v.abs()) - radius * 0.82
    elif shape == "triangle":
        circum = radius * 1.25
        dist = torch.stack([u * math.cos(a) + v * math.sin(a) for a in
                            (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]).amax(0) - circum / 2
    else:
        raise ValueError(f"unknown shape '{shape}'; known: {', '.join(SHAPES)}")
    return (0.5 - dist * size).clamp(0, 1)


def render_scene(scene: Scene, size: int = IMAGE_SIZE) -> torch.Tensor:
    """(3, H, W) for a one-frame scene, (3, F, H, W) for a video, values in [0, 1]."""
    bg = render_background(scene.background, size)
    frames = []
    for f in range(scene.frames):
        img = bg.clone()
        for o in scene.objects:
            alpha = shape_alpha(o.shape, o.cx[f], o.cy[f], o.radius[f], o.angle[f], size)
            img = img * (1 - alpha) + torch.tensor(o.rgb).view(3, 1, 1) * alpha
        frames.append(img)
    return frames[0] if scene.frames == 1 else torch.stack(frames, dim=1)
