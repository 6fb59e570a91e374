"""Perceptual metrics (LPIPS, PSNR, SSIM, heatmaps, video consistency) that run fully offline.

LPIPS needs AlexNet weights prepared once (``python -m studio.metrics.prepare``); without them every result
still has PSNR and SSIM, and ``lpips`` is ``None`` with the reason in ``lpips_error``.

Example:
    >>> from studio.metrics import compare_media, json_safe
    >>> json.dumps(json_safe(compare_media(img, img)), allow_nan=False)
    '{"lpips": 0.0, "psnr": "inf", "ssim": 1.0, "lpips_error": null}'
"""

from studio.metrics.compare import compare_media
from studio.metrics.heatmap import difference_heatmap
from studio.metrics.lpips_offline import LpipsUnavailable
from studio.metrics.serialize import json_safe
from studio.metrics.weights import lpips_status, prepare_lpips_weights

__all__ = [
    "LpipsUnavailable",
    "compare_media",
    "difference_heatmap",
    "json_safe",
    "lpips_status",
    "prepare_lpips_weights",
]
