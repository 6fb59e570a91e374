"""Where the region cache recomputed: its per-step token masks drawn over the output, as small multiples.

Reads a result's `cache["region"]` (from studio.engine.region_cache.region_activity: `grid` = [frames, rows,
cols] of the token grid, `masks` = one '0'/'1' string per step, `modes`) and the result's output ((H, W, 3) or
(F, H, W, 3) floats in [0, 1]). Rows are denoising steps, columns are token frames (one for an image); a final
row shows, per token, the share of partial steps on which it was recomputed (scaled so the most recomputed
token is fully tinted).

Example:
    Image.fromarray(render_region_overlay(result.output, result.cache["region"])).save("regions.png")
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

ACTIVE = np.array([1.0, 0.25, 0.1])  # the tint of recomputed tokens


def activity_masks(region: dict) -> np.ndarray:
    """(steps, frames, rows, cols) booleans: which tokens were computed at each step."""
    grid = tuple(region["grid"])
    return np.array([[c == "1" for c in m] for m in region["masks"]], dtype=bool).reshape(-1, *grid)


def recompute_share(region: dict) -> np.ndarray:
    """(frames, rows, cols): share of the partial steps on which each token was recomputed (NaN without any)."""
    masks = activity_masks(region)
    partial = [i for i, mode in enumerate(region["modes"]) if mode == "partial"]
    return masks[partial].mean(axis=0) if partial else np.full(masks.shape[1:], np.nan)


def _frames(output: np.ndarray, n_frames: int) -> list[np.ndarray]:
    """One output frame per token frame (the first of each temporal patch)."""
    clip = output[None] if output.ndim == 3 else output
    stride = max(1, clip.shape[0] // n_frames)
    return [clip[min(i * stride, clip.shape[0] - 1)] for i in range(n_frames)]


def _cell(frame: np.ndarray, weight: np.ndarray, scale: int) -> np.ndarray:
    """The frame with tokens tinted by `weight` (rows, cols) in [0, 1] (half-transparent, so the content shows)."""
    h, w = frame.shape[:2]
    up = np.kron(np.nan_to_num(weight), np.ones((h // weight.shape[0], w // weight.shape[1])))[..., None]
    mixed = frame * (1 - 0.5 * up) + ACTIVE * 0.5 * up
    big = np.kron(mixed, np.ones((scale, scale, 1)))
    big[::big.shape[0] // weight.shape[0]] *= 0.8  # a faint token grid
    big[:, ::big.shape[1] // weight.shape[1]] *= 0.8
    return big


def render_region_overlay(output: np.ndarray, region: dict, max_rows: int = 8, scale: int = 3) -> np.ndarray:
    """An RGB uint8 image: up to `max_rows` partial steps (evenly spaced) x token frames, then the share row."""
    masks = activity_masks(region)
    partial = [i for i, mode in enumerate(region["modes"]) if mode == "partial"]
    picks = [partial[round(j)] for j in np.linspace(0, len(partial) - 1, min(max_rows, len(partial)))] if partial \
        else []
    frames = _frames(np.asarray(output, dtype=np.float32), masks.shape[1])
    rows = [(f"step {i + 1}", [masks[i, f].astype(np.float32) for f in range(masks.shape[1])]) for i in picks]
    share = recompute_share(region)
    share = share / max(np.nanmax(share), 1e-9) if partial else share  # the most recomputed token: full tint
    rows.append(("share", [share[f] for f in range(masks.shape[1])]))
    label_w, pad = 54, 2
    cell_h, cell_w = frames[0].shape[0] * scale, frames[0].shape[1] * scale
    canvas = np.ones((len(rows) * (cell_h + pad), label_w + len(frames) * (cell_w + pad), 3))
    for r, (_, weights) in enumerate(rows):
        for f, weight in enumerate(weights):
            y, x = r * (cell_h + pad), label_w + f * (cell_w + pad)
            canvas[y:y + cell_h, x:x + cell_w] = _cell(frames[f], weight, scale)
    image = Image.fromarray((np.clip(canvas, 0, 1) * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for r, (label, _) in enumerate(rows):
        draw.text((2, r * (cell_h + pad) + cell_h // 2 - 5), label, fill=(0, 0, 0))
    return np.asarray(image)


def save_region_overlay(output: np.ndarray, region: dict, path) -> str:
    """Write render_region_overlay as a PNG; returns the path."""
    Image.fromarray(render_region_overlay(output, region)).save(path)
    return str(path)
