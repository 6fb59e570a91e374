"""Serve a pair's media under neutral names, so nothing the browser receives (URL, file name) says which variant
made it: compare folders name files after their variant (`teacache.png`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from studio.spotcheck.store import SpotcheckError

BLIND_DIR_NAME = "speedup-studio-spotcheck"


def blind_dir() -> Path:
    """Inside the system temp folder, which Gradio is allowed to serve files from."""
    return Path(tempfile.gettempdir()) / BLIND_DIR_NAME


def blind_copy(path: str | Path) -> str:
    """A copy of `path` named by a hash of its location and content stamp; copied once, reused afterwards."""
    src = Path(path)
    try:
        stat = src.stat()
    except OSError:
        raise SpotcheckError(f"media file '{src.name}' of this session is missing; was its folder deleted?") from None
    key = hashlib.sha256(f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    dst = blind_dir() / f"{key}{src.suffix.lower()}"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".part")
        os.close(fd)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)  # atomic: a concurrent reader never sees half a file
    return str(dst)
