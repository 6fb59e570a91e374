"""Where data that must outlive a restart goes: a Hugging Face Space's persistent storage, when attached, and the
check that a folder the app writes to can be written at all.

Everything else on a Space (the checkout, the home folder) is lost when it restarts; the spot-check votes and
the app's benches default to this folder there (stdlib only: the spot-check store uses it too).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

SPACES_PERSISTENT_DIR = Path("/data")  # where Spaces mounts persistent storage


def spaces_persistent_dir(env: Mapping[str, str]) -> Path | None:
    """`/data/speedup-studio` on a Space (SPACE_ID set) with writable persistent storage, else None."""
    if env.get("SPACE_ID") and SPACES_PERSISTENT_DIR.is_dir() and os.access(SPACES_PERSISTENT_DIR, os.W_OK):
        return SPACES_PERSISTENT_DIR / "speedup-studio"
    return None


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (created if missing), or None when they can.

    Checked by doing it (create the folder, write and remove a file), not by permission bits, which a read-only
    mount or a full disk would pass."""
    if folder.exists() and not folder.is_dir():
        return "a file of that name is in the way"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as e:
        return e.strerror or type(e).__name__
    return None
