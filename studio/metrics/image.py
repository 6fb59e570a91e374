"""Pixel metrics for one image pair, computed by scikit-image.

Inputs are float arrays in [0, 1], shape (H, W, 3) (see :func:`studio.metrics.inputs.to_float`).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB with data range 1.0; ``float('inf')`` for identical inputs.

    Also accepts (F, H, W, 3) clips: then the MSE is pooled over all frames (one clip-level figure).

    Example:
        >>> psnr(img, img)
        inf
    """
    with np.errstate(divide="ignore"):  # MSE 0 -> inf is the intended answer, not a warning
        return float(peak_signal_noise_ratio(reference, candidate, data_range=1.0))


def ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Structural similarity (scikit-image defaults: 7x7 uniform window, per channel, averaged); 1.0 = identical.

    Images smaller than 7 px use the largest odd window that fits (at least 3).

    Example:
        >>> ssim(img, img)
        1.0
    """
    side = min(reference.shape[:2])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"SSIM needs images of at least 3x3 pixels; got {reference.shape[:2]}")
    return float(structural_similarity(reference, candidate, data_range=1.0, channel_axis=-1, win_size=win))
