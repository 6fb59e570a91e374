"""Where data that must outlive a restart goes on a Hugging Face Space: its persistent storage, when attached.

Everything else on a Space (the checkout, the home folder) is lost when it restarts; the spot-check votes and
the app's benches default to this folder there (stdlib only: the spot-check store uses it too).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SPACES_PERSISTENT_DIR = Path("/data")  # where Spaces mounts persistent storage


def spaces_persistent_dir(env: Mapping[str, str]) -> Path | None:
    """`/data/speedup-studio` on a Space (SPACE_ID set) with writable persistent storage, else None."""
    if env.get("SPACE_ID") and SPACES_PERSISTENT_DIR.is_dir() and os.access(SPACES_PERSISTENT_DIR, os.W_OK):
        return SPACES_PERSISTENT_DIR / "speedup-studio"
    return None
