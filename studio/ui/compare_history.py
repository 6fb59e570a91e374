"""Finished comparisons kept on disk, so a browser can reopen its own after a reload or a restart.

Each is a `compare --out` folder (report.json and the variants' media) under the app's runs folder, named
`YYYYmmdd-HHMMSS-PRESET-WORDS-TOKEN`; the page remembers the names it made in the browser's local storage, so a
visitor lists only their own. The newest KEEP folders are kept; older ones are removed as new ones are saved.
No gradio here.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from studio.bench.media import load_outputs
from studio.engine.report import write_compare_folder
from studio.presets import load_preset
from studio.sizes import report_width

log = logging.getLogger("studio")
KEEP = 200  # folders on disk, all visitors together
REMEMBERED = 20  # names a browser keeps
_NAME = re.compile(r"^\d{8}-\d{6}-[A-Za-z0-9._-]{1,120}-[0-9a-f]{8}$")  # no slash: never a path
_lock = threading.Lock()
_saving: dict[str, threading.Thread] = {}  # name -> the thread still writing it (save_in_background)
SAVE_WAIT_S = 60.0  # how long a listing or an opening waits for a comparison still being written


def new_name(preset: str, prompt: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "prompt"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{preset}-{words}-{secrets.token_hex(4)}"


def save(root: Path, name: str, report: dict, outputs: dict[str, np.ndarray]) -> Path:
    """Write the comparison as `root`/`name` and remove the oldest folders beyond KEEP."""
    folder = write_compare_folder(root / name, report, outputs)
    with _lock:
        kept = sorted((f for f in root.iterdir() if _NAME.match(f.name)), key=lambda f: f.name)
        for old in kept[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def save_in_background(root: Path, name: str, report: dict, outputs: dict[str, np.ndarray]) -> threading.Thread:
    """`save` in a daemon thread: writing a video's clips takes about a second (more on a busy machine), which the
    page need not wait for; a listing or an opening of it meanwhile waits for it (a reload right after a run)."""

    copied = dict(outputs)  # the page's dict may change once the handler returns

    def write() -> None:
        try:
            save(root, name, report, copied)
        except OSError as e:  # a full disk, a folder removed meanwhile: the page has its results; say what was lost
            log.warning("comparison %s was not kept in %s: %s", name, root, e.strerror or e)
        finally:
            with _lock:
                _saving.pop(name, None)

    thread = threading.Thread(target=write, daemon=True, name="compare-history")
    with _lock:
        _saving[name] = thread
    thread.start()
    return thread


def _wait_for_saves(names) -> None:
    """Let the comparisons among `names` that are still being written finish first."""
    with _lock:
        pending = [_saving[n] for n in names or [] if isinstance(n, str) and n in _saving]
    for thread in pending:
        thread.join(SAVE_WAIT_S)


def load(root: Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(report, outputs by slug) of the saved comparison `name`; ValueError saying why when there is none."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{name!r} is not the name of a saved comparison")
    _wait_for_saves([name])
    path = root / name / "report.json"
    if not path.is_file():
        raise ValueError(f"the comparison {name!r} is no longer kept (the newest {KEEP} are)")
    report = json.loads(path.read_text(encoding="utf-8"))
    return report, load_outputs(report["variants"], root / name, report_width(report, load_preset(report["preset"])))


def when(name: str) -> str:
    """'YYYY-MM-DD HH:MM' of a kept comparison, from its name."""
    return f"{name[:4]}-{name[4:6]}-{name[6:8]} {name[9:11]}:{name[11:13]}"


def remember(names: list | None, name: str | None) -> list[str]:
    """A browser's list of its comparisons, newest first, with `name` added (at most REMEMBERED)."""
    kept = [n for n in (names or []) if isinstance(n, str) and n != name]
    return ([name] if name else []) + kept[:REMEMBERED - (1 if name else 0)]


def choices(root: Path, names: list | None) -> list[tuple[str, str]]:
    """(label, name) for each remembered comparison still on disk: 'HH:MM · preset · prompt'."""
    _wait_for_saves(names)
    items = []
    for name in names or []:
        path = root / str(name) / "report.json"
        if not (isinstance(name, str) and _NAME.match(name) and path.is_file()):
            continue
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        prompt = report.get("prompt", "")
        items.append((f"{when(name)} · {report.get('preset')} · {prompt[:60] + ('…' if len(prompt) > 60 else '')}",
                      name))
    return items
