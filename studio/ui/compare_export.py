"""The Compare page's download: the finished comparison as a zip of report.json, report.html and each variant's media.

The layout is the one `python -m studio compare --out` writes, so the CLI (e.g. `spotcheck create --from`) reads
an unzipped download too.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import gradio as gr

from studio.engine.report import write_compare_folder
from studio.ui.compare_code import write_recommended_code
from studio.ui.compare_report import write_compare_html


def finished_report(state: dict | None, what: str) -> dict:
    """The page's last comparison report (`state` is the Compare page's view state), once the run has finished;
    else a message saying `what` needs a finished run."""
    report = (state or {}).get("report")
    if not report or not report.get("complete"):
        raise gr.Error(f"Run a comparison first: {what} once it has finished.")
    return report


def download_comparison(state: dict | None):
    """Write the last finished comparison to a temporary folder and zip it; shows the zip for download. Besides
    the `compare --out` layout it holds report.html (the page's verdict, cards and table in one file) and
    recommended.py (code for the starred variant)."""
    report = finished_report(state, "it can be downloaded")
    words = re.sub(r"[^a-z0-9]+", "-", report["prompt"].lower()).strip("-")[:40] or "prompt"
    folder = Path(tempfile.mkdtemp(prefix="studio-download-")) / f"{report['preset']}-{words}-seed{report['seed']}"
    write_compare_folder(folder, report, state["outputs"])
    write_compare_html(folder, report, state["outputs"], report["price_per_hour"], report["lpips_budget"],
                       report["repeats"])
    write_recommended_code(folder, report, report["lpips_budget"])
    return gr.update(value=shutil.make_archive(str(folder), "zip", root_dir=folder), visible=True)
