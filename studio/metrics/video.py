"""Clip-level figures built from per-frame metrics, plus temporal consistency.

Inputs are float clips in [0, 1], shape (F, H, W, 3).
"""

from __future__ import annotations

import numpy as np

from studio.metrics.image import psnr, ssim


def temporal_consistency(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean absolute difference between the two clips' frame-to-frame changes, in [0, 1] pixel units.

    ``mean |(c[t+1] - c[t]) - (r[t+1] - r[t])|``: 0 means the candidate moves exactly like the reference; larger
    means flicker or motion the reference does not have. (A ratio of motion magnitudes was rejected: it divides by
    ~0 for a static reference and cannot tell different motion of equal size apart.) A single frame gives 0.0.

    Example:
        >>> temporal_consistency(clip, clip)
        0.0
    """
    if reference.shape[0] < 2:
        return 0.0
    d_ref = np.diff(reference.astype(np.float32), axis=0)
    d_cand = np.diff(candidate.astype(np.float32), axis=0)
    return float(np.abs(d_cand - d_ref).mean())


def worst_frame(per_frame: dict[str, list[float] | None]) -> tuple[int, str]:
    """Index of the worst frame and the metric that judged it: highest LPIPS, or lowest SSIM without LPIPS.

    Example:
        >>> worst_frame({"lpips": [0.1, 0.4], "ssim": [0.9, 0.8]})
        (1, 'lpips')
    """
    if per_frame.get("lpips"):
        return int(np.argmax(per_frame["lpips"])), "lpips"
    return int(np.argmin(per_frame["ssim"])), "ssim"


def video_report(reference: np.ndarray, candidate: np.ndarray, lpips_values: list[float] | None) -> dict:
    """Per-frame PSNR/SSIM (and the given per-frame LPIPS), their clip figures, worst frame, temporal consistency.

    Clip figures: LPIPS and SSIM are the mean over frames; PSNR pools the MSE over all frames (the MSE-domain
    mean), because one identical frame would make the arithmetic mean of per-frame PSNR infinite.

    Example:
        >>> video_report(clip, clip, None)["per_frame"]["ssim"]
        [1.0, 1.0]
    """
    per_frame = {
        "lpips": lpips_values,
        "psnr": [psnr(r, c) for r, c in zip(reference, candidate, strict=True)],
        "ssim": [ssim(r, c) for r, c in zip(reference, candidate, strict=True)],
    }
    index, judged_by = worst_frame(per_frame)
    return {
        "lpips": float(np.mean(lpips_values)) if lpips_values else None,
        "psnr": psnr(reference, candidate),
        "ssim": float(np.mean(per_frame["ssim"])),
        "per_frame": per_frame,
        "worst_frame": index,
        "worst_frame_metric": judged_by,
        "temporal_consistency": temporal_consistency(reference, candidate),
    }
