"""One entry point that compares two images or two videos with every metric."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.metrics.image import psnr, ssim
from studio.metrics.inputs import to_pair
from studio.metrics.lpips_offline import lpips_distances
from studio.metrics.video import video_report


def _try_lpips(reference: np.ndarray, candidate: np.ndarray) -> tuple[list[float] | None, str | None]:
    """Per-item LPIPS, or (None, reason): a missing LPIPS must never cost the caller PSNR and SSIM."""
    try:
        return lpips_distances(reference, candidate), None
    except Exception as exc:  # noqa: BLE001 - unavailable weights, a corrupt cache file, ...: report, don't raise
        return None, str(exc)


def compare_media(reference: Any, candidate: Any) -> dict:
    """Compare a candidate image or video with a reference.

    Args:
        reference, candidate: numpy arrays (uint8, or float in [0, 1]) shaped (H, W, 3) for an image or
            (F, H, W, 3) for a video; a PIL image; or a list of PIL images / arrays as video frames.

    Returns:
        ``{"lpips": float | None, "psnr": float, "ssim": float, "lpips_error": str | None}``; for videos also
        ``"per_frame": {"lpips": [...] | None, "psnr": [...], "ssim": [...]}``, ``"worst_frame"``,
        ``"worst_frame_metric"`` and ``"temporal_consistency"`` (see :mod:`studio.metrics.video`).
        PSNR is ``float('inf')`` for identical inputs; pass the result through ``json_safe`` before strict JSON.

    Raises:
        ValueError: the two inputs differ in kind, size or frame count, or are not valid images.

    Example:
        >>> compare_media(img, img)
        {'lpips': 0.0, 'psnr': inf, 'ssim': 1.0, 'lpips_error': None}
    """
    ref, cand = to_pair(reference, candidate)
    if ref.ndim == 3:
        values, error = _try_lpips(ref[None], cand[None])
        return {"lpips": values[0] if values else None, "psnr": psnr(ref, cand), "ssim": ssim(ref, cand),
                "lpips_error": error}
    values, error = _try_lpips(ref, cand)
    report = video_report(ref, cand, values)
    report["lpips_error"] = error
    return report
