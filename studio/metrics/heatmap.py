"""Colour-mapped pictures of where two images differ."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from studio.metrics.inputs import to_pair
from studio.metrics.lpips_offline import lpips_map

# Anchor colours of matplotlib's "inferno" (dark = same, bright = different); interpolated to a 256-entry table so
# no plotting library is needed.
_ANCHORS = np.array([(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)], dtype=np.float64)
_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, c]) for c in range(3)], axis=1
).round().astype(np.uint8)

KINDS = ("abs", "lpips")


def colorize(values: np.ndarray, vmax: float | None = None) -> Image.Image:
    """Map a 2-D array of non-negative values to an RGB image; ``vmax`` (default: the array's max) is brightest.

    Example:
        >>> colorize(np.zeros((4, 4))).size
        (4, 4)
    """
    top = float(values.max()) if vmax is None else float(vmax)
    scaled = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    return Image.fromarray(_LUT[np.round(scaled * 255).astype(np.uint8)], mode="RGB")


def difference_heatmap(reference: Any, candidate: Any, kind: str = "abs", vmax: float | None = None) -> Image.Image:
    """Heatmap of the difference between two images, same size as the inputs.

    Args:
        reference, candidate: images in any form :func:`studio.metrics.compare_media` accepts (not videos:
            pass one frame, e.g. ``clip[i]``).
        kind: ``"abs"`` = mean absolute pixel difference over RGB; ``"lpips"`` = LPIPS spatial distance map.
        vmax: value drawn brightest. ``None`` scales each map to its own maximum (shows *where*, not *how much*);
            pass a fixed number to compare heatmaps of several pairs.

    Raises:
        ValueError: unknown kind, a video, or mismatched shapes.
        LpipsUnavailable: ``kind="lpips"`` while the weights are not prepared.

    Example:
        >>> difference_heatmap(ref_img, cand_img, kind="abs").size == ref_img.size
        True
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    ref, cand = to_pair(reference, candidate)
    if ref.ndim != 3:
        raise ValueError(f"heatmaps are per image; got videos of shape {ref.shape} (pass one frame, e.g. clip[i])")
    values = np.abs(ref - cand).mean(axis=-1) if kind == "abs" else lpips_map(ref, cand)
    return colorize(np.maximum(values, 0.0), vmax)
