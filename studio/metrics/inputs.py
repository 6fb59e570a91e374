"""Turning what callers hand us (arrays, PIL images, lists of frames) into one float layout.

Everything becomes float32 in [0, 1]: an image is (H, W, 3), a video (F, H, W, 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

# Model outputs may overshoot [0, 1] by rounding; that much is clipped, anything larger is a caller error.
_FLOAT_SLACK = 1e-3

ACCEPTED = (
    "a numpy array (H, W, 3) image or (F, H, W, 3) video, dtype uint8 or float in [0, 1]; "
    "a PIL image; or a list of PIL images / (H, W, 3) arrays as video frames"
)


def _array_from(obj: Any) -> np.ndarray:
    if isinstance(obj, Image.Image):
        return np.asarray(obj.convert("RGB"))
    if isinstance(obj, (list, tuple)):
        if not obj:
            raise ValueError(f"got an empty list of frames; expected {ACCEPTED}")
        frames = [_array_from(f) for f in obj]
        shapes = {f.shape for f in frames}
        if len(shapes) != 1 or frames[0].ndim != 3:
            raise ValueError(f"video frames must all be (H, W, 3) of one size; got shapes {sorted(shapes)}")
        return np.stack([to_float(f) for f in frames])
    if isinstance(obj, np.ndarray):
        return obj
    raise TypeError(f"cannot compare a {type(obj).__name__}; expected {ACCEPTED}")


def to_float(obj: Any) -> np.ndarray:
    """Normalize an image or video to float32 in [0, 1], shape (H, W, 3) or (F, H, W, 3).

    Raises:
        ValueError / TypeError: wrong shape, dtype or value range; the message lists what is accepted.

    Example:
        >>> to_float(np.full((2, 2, 3), 255, np.uint8)).max()
        np.float32(1.0)
    """
    arr = _array_from(obj)
    if arr.ndim not in (3, 4) or arr.shape[-1] != 3:
        raise ValueError(f"got shape {arr.shape}; expected {ACCEPTED}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"got dtype {arr.dtype}; expected {ACCEPTED}")
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinite values; expected float values in [0, 1]")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
        raise ValueError(
            f"float values span [{lo:.3g}, {hi:.3g}]; expected [0, 1] (for [-1, 1] data pass (x + 1) / 2, "
            "for 0..255 data pass uint8)"
        )
    return np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)


def to_pair(reference: Any, candidate: Any) -> tuple[np.ndarray, np.ndarray]:
    """Normalize both sides and insist they have the same shape (same kind, size and frame count).

    Example:
        >>> to_pair(img, img)[0].shape
        (64, 64, 3)
    """
    ref, cand = to_float(reference), to_float(candidate)
    if ref.shape != cand.shape:
        kinds = {3: "an image", 4: "a video"}
        raise ValueError(
            f"reference is {kinds[ref.ndim]} of shape {ref.shape} but candidate is {kinds[cand.ndim]} of "
            f"shape {cand.shape}; both must be images or both videos with the same frame count and size"
        )
    return ref, cand
