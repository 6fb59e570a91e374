"""Exact checker for the embedded models: does an image or video show what its prompt asked for?

For each object of the prompt it finds the pixels of the named colour (nearest palette colour, bright enough
to stand out from the muted backgrounds), keeps the largest connected blob and measures it:
- shape: area / (pi * farthest-pixel-distance^2) is rotation invariant: about 1 for a circle, 0.64 for a
  square, 0.41 for an equilateral triangle;
- size: the radius implied by the area for that shape;
- position: the centroid's third of the frame, horizontally and vertically;
- motion (video): the centroid's travel and the radius ratio between the first and last frames.

Fidelity penalises blurred or averaged output: the share of bright pixels that are a clean palette colour.
A crisp render scores about 0.9 or more; a blurred or mode-averaged one far less.

Example:
    check("a large red circle at the top left", image_hw3)   # -> CheckResult(adherent=True, ...)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from studio.tiny.language import ObjectSpec, parse_prompt
from studio.tiny.render import PALETTE

_PALETTE_NAMES = tuple(PALETTE)
_PALETTE = np.array([PALETTE[c] for c in _PALETTE_NAMES], dtype=np.float32)  # (C, 3)
COLOR_TOLERANCE = 0.28  # RGB distance to a palette colour for a pixel to count as that colour
BRIGHT = 0.5  # an object pixel has a channel above this; backgrounds stay below
CLEAN_TOLERANCE = 0.2  # fidelity: a bright pixel this close to a palette colour is clean
MIN_AREA = 12  # pixels at 64x64; smaller blobs are noise
AREA_FACTOR = {"circle": math.pi, "square": (2 * 0.82) ** 2, "triangle": 3 * math.sqrt(3) / 4 * 1.25**2}
SMALL_LARGE_RADIUS = 0.117  # between the small (<= 0.095) and large (>= 0.14) radius ranges
THIRDS = (0.36, 0.64)
MIN_TRAVEL = 0.09  # half the smallest travel of a moving object
MIN_GROWTH = 0.2  # log radius ratio; half the smallest growth


@dataclass
class ObjectCheck:
    spec: ObjectSpec
    found: bool
    measured: dict = field(default_factory=dict)  # what the checker saw
    errors: list[str] = field(default_factory=list)  # attributes that are wrong

    @property
    def ok(self) -> bool:
        return self.found and not self.errors


@dataclass
class CheckResult:
    objects: list[ObjectCheck]
    fidelity: float

    @property
    def adherent(self) -> bool:
        return all(o.ok for o in self.objects)

    @property
    def score(self) -> float:
        return sum(o.ok for o in self.objects) / len(self.objects)


def _to_frames(media) -> np.ndarray:
    """Any image (H, W, 3) or video (F, H, W, 3) as float32 frames in [0, 1], shape (F, H, W, 3)."""
    if isinstance(media, list):  # list of PIL frames
        media = np.stack([np.asarray(m) for m in media])
    arr = np.asarray(media)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected an image (H, W, 3) or a video (F, H, W, 3), got shape {arr.shape}")
    return arr


def color_labels(frame: np.ndarray) -> np.ndarray:
    """(H, W) palette index of each pixel, or -1 for background / unclear pixels."""
    dist = np.linalg.norm(frame[:, :, None, :] - _PALETTE[None, None], axis=-1)  # (H, W, C)
    nearest = dist.argmin(-1)
    ok = (dist.min(-1) < COLOR_TOLERANCE) & (frame.max(-1) > BRIGHT)
    return np.where(ok, nearest, -1)


def fidelity(frames: np.ndarray) -> float:
    """Share of bright pixels that are a clean palette colour (1.0 when no bright pixel at all)."""
    dist = np.linalg.norm(frames[..., None, :] - _PALETTE, axis=-1).min(-1)
    bright = frames.max(-1) > BRIGHT
    if not bright.any():
        return 0.0
    return float((dist[bright] < CLEAN_TOLERANCE).mean())


def _blob(labels: np.ndarray, color_index: int) -> np.ndarray | None:
    mask = labels == color_index
    comps, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = ndimage.sum(mask, comps, range(1, n + 1))
    best = int(np.argmax(sizes)) + 1
    return comps == best if sizes[best - 1] >= MIN_AREA else None


def _measure(mask: np.ndarray) -> dict:
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean() + 0.5, xs.mean() + 0.5
    far = np.sqrt((ys + 0.5 - cy) ** 2 + (xs + 0.5 - cx) ** 2).max() + 0.5
    area = float(mask.sum())
    return {"cx": cx / w, "cy": cy / h, "area": area / (h * w), "roundness": area / (math.pi * far**2)}


def _shape_of(roundness: float) -> str:
    return "circle" if roundness > 0.76 else "square" if roundness > 0.54 else "triangle"


def _position_of(cx: float, cy: float) -> str:
    col = "left" if cx < THIRDS[0] else "right" if cx > THIRDS[1] else ""
    row = "top" if cy < THIRDS[0] else "bottom" if cy > THIRDS[1] else ""
    return f"{row} {col}".strip() or "center"


def _motion_of(first: dict, last: dict, shape: str) -> str | None:
    dx, dy = last["cx"] - first["cx"], last["cy"] - first["cy"]
    growth = 0.5 * math.log(max(last["area"], 1e-6) / max(first["area"], 1e-6))
    if abs(growth) >= MIN_GROWTH and max(abs(dx), abs(dy)) < MIN_TRAVEL:
        return "growing" if growth > 0 else "shrinking"
    if max(abs(dx), abs(dy)) < MIN_TRAVEL:
        return None
    if abs(dx) >= abs(dy):
        return "moving right" if dx > 0 else "moving left"
    return "moving down" if dy > 0 else "moving up"


def check_objects(objects: list[ObjectSpec], media) -> CheckResult:
    """Check parsed objects against an image (H, W, 3) or video (F, H, W, 3); uint8 or float in [0, 1]."""
    frames = _to_frames(media)
    labels = [color_labels(f) for f in frames]
    results = []
    for spec in objects:
        ci = _PALETTE_NAMES.index(spec.color)
        per_frame = [_blob(lab, ci) for lab in labels]
        seen = [_measure(m) for m in per_frame if m is not None]
        if len(seen) < max(1, (len(frames) + 1) // 2):  # must be visible in most frames
            results.append(ObjectCheck(spec, found=False, errors=["missing"]))
            continue
        mid = seen[len(seen) // 2]
        cx = float(np.mean([s["cx"] for s in seen]))
        cy = float(np.mean([s["cy"] for s in seen]))
        shape = _shape_of(float(np.median([s["roundness"] for s in seen])))
        radius = math.sqrt(float(np.median([s["area"] for s in seen])) / AREA_FACTOR[shape])
        measured = {"shape": shape, "position": _position_of(cx, cy),
                    "size": "small" if radius < SMALL_LARGE_RADIUS else "large",
                    "cx": round(cx, 3), "cy": round(cy, 3), "radius": round(radius, 3),
                    "roundness": round(mid["roundness"], 3)}
        errors = [k for k in ("shape", "position", "size") if getattr(spec, k) and getattr(spec, k) != measured[k]]
        if len(frames) > 1:
            measured["motion"] = _motion_of(seen[0], seen[-1], shape)
            if measured["motion"] != spec.motion:
                errors.append("motion")
        results.append(ObjectCheck(spec, found=True, measured=measured, errors=errors))
    return CheckResult(results, fidelity(frames))


def check(prompt: str, media, video: bool | None = None) -> CheckResult:
    """Parse `prompt` and check `media` against it (video is inferred from the media's shape if not given)."""
    frames = _to_frames(media)
    return check_objects(parse_prompt(prompt, video=frames.shape[0] > 1 if video is None else video), frames)
