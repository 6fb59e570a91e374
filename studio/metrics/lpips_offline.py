"""LPIPS (v0.1, AlexNet trunk) that never downloads anything.

The ``lpips`` package is built with ``pnet_rand=True`` (so torchvision does not fetch AlexNet) and the trunk is then
filled from the file :mod:`studio.metrics.weights` finds. The linear heads are the package's own v0.1 weights.
The model is built once per process and weight file, behind a lock, and reused.

Input convention: float arrays in [0, 1], shape (N, H, W, 3); they are scaled to [-1, 1] as LPIPS expects.

Small images: LPIPS is fed at native resolution when the short side is at least 64 px (LPIPS was calibrated on
64x64 patches, and the published reference figures are for 64x64 images). Smaller images are upscaled
bilinearly, keeping the aspect ratio, until the short side is 64: AlexNet cannot run below ~31 px at all, and
upscaling to 64 rather than 224 keeps the figure comparable with native 64x64 results. Both images of a pair
always get the same treatment; the spatial map is returned at the caller's original size.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.locks import MODEL_BUILD_LOCK
from studio.metrics.weights import find_alexnet_weights, load_alexnet_features, lpips_status

MIN_SIDE = 64
_BATCH = 16  # frames per forward pass: bounds memory for long videos

_LOCK = threading.Lock()
_MODELS: dict[str, torch.nn.Module] = {}


class LpipsUnavailable(RuntimeError):
    """LPIPS cannot run offline; the message says why and which command fixes it."""


def _build_model(path: Path) -> torch.nn.Module:
    import lpips

    with warnings.catch_warnings():
        # torchvision warns about the deprecated 'pretrained' argument lpips 0.1.4 still passes.
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    features = load_alexnet_features(path)
    # lpips splits torchvision's ``features`` Sequential into slices that keep the original indices.
    state = {}
    for name in model.net.state_dict():
        index = name.split(".", 1)[1]  # "slice2.3.weight" -> "3.weight"
        state[name] = features[f"features.{index}"]
    model.net.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)


def get_lpips_model() -> torch.nn.Module:
    """The process-wide LPIPS-alex model (built on first use, thread-safe).

    Raises:
        LpipsUnavailable: weights are not prepared; the message names the command to run.

    Example:
        >>> get_lpips_model() is get_lpips_model()
        True
    """
    path = find_alexnet_weights()
    if path is None:
        raise LpipsUnavailable(lpips_status()[1])
    key = str(path)
    with _LOCK:
        if key not in _MODELS:
            with MODEL_BUILD_LOCK:  # never beside a diffusers load (see studio.locks)
                _MODELS[key] = _build_model(path)
        return _MODELS[key]


def _to_input(batch: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) in [0, 1] -> (N, 3, H', W') in [-1, 1], upscaled so the short side is >= MIN_SIDE."""
    t = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2) * 2.0 - 1.0
    h, w = t.shape[-2:]
    if min(h, w) < MIN_SIDE:
        scale = MIN_SIDE / min(h, w)
        size = (max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale)))
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return t


def _layer_maps(model: torch.nn.Module, ref: torch.Tensor, cand: torch.Tensor) -> list[torch.Tensor]:
    """Per-layer LPIPS maps (N, 1, h_k, w_k), the same arithmetic as ``lpips.LPIPS.forward``."""
    import lpips

    n = ref.shape[0]
    with torch.inference_mode():
        # One trunk pass for both sides halves the Python overhead.
        feats = model.net(model.scaling_layer(torch.cat([ref, cand])))
        maps = []
        for k, feat in enumerate(feats):
            f = lpips.normalize_tensor(feat)
            maps.append(model.lins[k]((f[:n] - f[n:]) ** 2))
    return maps


def _check_pair(reference: np.ndarray, candidate: np.ndarray) -> None:
    if reference.shape != candidate.shape or reference.ndim != 4 or reference.shape[-1] != 3:
        raise ValueError(
            f"LPIPS needs two (N, H, W, 3) batches of the same shape; got {reference.shape} and {candidate.shape}"
        )


def lpips_distances(reference: np.ndarray, candidate: np.ndarray) -> list[float]:
    """LPIPS distance for each pair of a batch (0 = identical, higher = more different).

    Args:
        reference, candidate: float arrays in [0, 1], shape (N, H, W, 3).

    Example:
        >>> lpips_distances(np.zeros((1, 64, 64, 3)), np.zeros((1, 64, 64, 3)))
        [0.0]
    """
    _check_pair(reference, candidate)
    model = get_lpips_model()
    out: list[float] = []
    for start in range(0, reference.shape[0], _BATCH):
        ref = _to_input(reference[start : start + _BATCH])
        cand = _to_input(candidate[start : start + _BATCH])
        total = sum(m.mean(dim=(2, 3)) for m in _layer_maps(model, ref, cand))
        out.extend(float(v) for v in total.flatten())
    return out


def lpips_map(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """LPIPS spatial distance map of one image pair, (H, W) float32 at the input's size.

    Its mean is (up to interpolation) the scalar LPIPS distance.

    Args:
        reference, candidate: float arrays in [0, 1], shape (H, W, 3).

    Example:
        >>> lpips_map(img, img).max()
        np.float32(0.0)
    """
    _check_pair(reference[None], candidate[None])
    model = get_lpips_model()
    ref, cand = _to_input(reference[None]), _to_input(candidate[None])
    size = ref.shape[-2:]
    with torch.inference_mode():
        maps = _layer_maps(model, ref, cand)
        total = sum(F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps)
        if tuple(size) != reference.shape[:2]:
            total = F.interpolate(total, size=reference.shape[:2], mode="bilinear", align_corners=False)
    return total[0, 0].numpy().astype(np.float32)
