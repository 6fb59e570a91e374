"""Earlier benches of one output root: which there are, and one's summary, so a page can reopen a finished run.

A bench folder counts once it holds summary.json (written when a bench finishes or is cancelled).

Example:
    runs = list_runs(Path(".runs/bench"))          # newest first
    folder, summary = load_run(Path(".runs/bench"), runs[0].name)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from studio.wording import counted

MAX_LISTED = 50  # the newest; older folders stay on disk


@dataclass(frozen=True)
class RunInfo:
    name: str  # the folder's name under the root
    label: str  # what a person picks it by: preset, when, prompts, variants


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def list_runs(root: Path) -> list[RunInfo]:
    """The finished benches under `root`, newest first (unreadable summaries are left out)."""
    if not root.is_dir():
        return []
    folders = sorted((f for f in root.iterdir() if (f / "summary.json").is_file()),
                     key=lambda f: (f / "summary.json").stat().st_mtime, reverse=True)
    runs = []
    for folder in folders[:MAX_LISTED]:
        try:
            s = _summary(folder)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime((folder / "summary.json").stat().st_mtime))
            label = (f"{s['preset']} · {when} · {counted(s['prompts'], 'prompt')} · "
                     f"{counted(len(s['variants']), 'variant')}"
                     + (" · cancelled" if s.get("stopped") else ""))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        runs.append(RunInfo(folder.name, label))
    return runs


def load_run(root: Path, name: str) -> tuple[Path, dict]:
    """(folder, summary) of the bench `name` under `root`; ValueError naming what exists if it is not one."""
    known = {r.name for r in list_runs(root)}
    if name not in known:  # also refuses any path: only listed folder names are accepted
        # the message reaches browsers: it names benches, never the server's folders
        listed = sorted(known)
        shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
        raise ValueError(f"no finished bench named {name!r}; "
                         f"{'pick one from the list (' + shown + ')' if known else 'none has finished yet'}")
    folder = root / name
    return folder, _summary(folder)
