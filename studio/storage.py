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


NOT_A_FOLDER = "it exists and is not a folder"


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be written in `folder`, or None when they can; nothing is left behind.

    Checked by doing it (a file written and removed in the folder, or in its nearest existing parent, which is where
    the folder would be created), not by permission bits, which a read-only mount would pass."""
    try:
        if folder.exists() and not folder.is_dir():
            return NOT_A_FOLDER
        existing = next(p for p in (folder, *folder.parents) if p.exists())  # "." or "/" at the latest
        if not existing.is_dir():
            return f"'{existing}' is a file, not a folder"
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-check-"):
            pass
    except OSError as e:
        return e.strerror or type(e).__name__
    return None


def output_folder_problem(flag: str, folder: Path | str) -> str | None:
    """A command's one-line refusal of an output folder it could not write in, naming the flag; None when it can.
    Checked before the work, so that a long run does not end in a traceback when it saves."""
    reason = unwritable_reason(Path(folder))
    if reason == NOT_A_FOLDER:
        return f"{flag} '{folder}' exists and is not a folder"
    return None if reason is None else f"{flag} '{folder}': cannot write there ({reason})"
