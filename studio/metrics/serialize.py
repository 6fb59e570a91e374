"""Making metric results safe for strict JSON."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """Recursively convert a result so ``json.dumps(result, allow_nan=False)`` succeeds.

    - float ``inf`` / ``-inf`` become the strings ``"inf"`` / ``"-inf"`` (PSNR of identical images is ``"inf"``);
    - NaN becomes ``None`` (JSON ``null``);
    - numpy scalars become Python scalars, numpy arrays and tuples become lists, paths become strings;
    - dict keys become strings.

    Example:
        >>> json_safe({"psnr": float("inf"), "ssim": np.float32(1.0)})
        {'psnr': 'inf', 'ssim': 1.0}
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
    return obj
