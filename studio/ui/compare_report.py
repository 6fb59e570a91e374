"""A finished comparison as one self-contained HTML file: the Compare page's verdict, cards and summary table, with
every image or clip inlined, for someone who has no studio at hand (a pull request, a chat, an e-mail).

No gradio here: the page's download and `python -m studio compare` both write it as `report.html`.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np

from studio.bench.media import load_outputs
from studio.ui import links, readouts
from studio.wording import counted

# the page's cards use gradio's theme variables; a standalone file gives them the light theme's values
_PAGE_CSS = """
:root {--border-color-primary:#e5e7eb; --block-background-fill:#ffffff; --body-text-color-subdued:#6b7280;}
* {box-sizing:border-box;}
body {font-family:system-ui, sans-serif; margin:24px; color:#111827; background:#f9fafb;}
h1 {font-size:20px; margin:0 0 4px;}
.setup {color:#374151; margin-bottom:8px;}
table.summary {border-collapse:collapse; margin-top:16px; font-size:12px; font-variant-numeric:tabular-nums;}
table.summary th, table.summary td {border:1px solid #e5e7eb; padding:3px 6px; text-align:right;}
table.summary th {background:#f3f4f6;}
table.summary td:nth-child(-n+3), table.summary th:nth-child(-n+3) {text-align:left;}
table.summary td:last-child, table.summary th:last-child {text-align:left;}  /* the error, in words */
"""


def render_compare_html(report: dict, outputs: dict[str, np.ndarray], price_per_hour: float, lpips_budget: float,
                        repeats: int = 1) -> str:
    """The HTML document for `report` (a comparison report: preset, prompt, seed, variants as the page and
    `compare` write them) with `outputs` (each variant's pixels by slug; a missing one shows no media)."""
    reports = report["variants"]
    best = readouts.best_within_budget(reports, lpips_budget)
    cards = []
    for r in reports:
        output = outputs.get(r["slug"])
        cards.append(readouts.card_html(r, readouts.media_uri(output), price_per_hour, r["slug"] == best,
                                        lpips_budget, readouts.region_overlay_uri(output, r.get("cache"))))
    verdict = readouts.count_text(reports) + readouts.verdict(reports, lpips_budget, repeats)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in readouts.SUMMARY_COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in readouts.summary_row(r, price_per_hour))
                   + "</tr>" for r in reports)
    when = report.get("created") or (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(report["started_at"]))
                                     if report.get("started_at") else "")
    setup = (f"Preset <b>{html.escape(str(report['preset']))}</b> · prompt <i>{html.escape(str(report['prompt']))}</i>"
             + (f" · not <i>{html.escape(str(report['negative_prompt']))}</i>" if report.get("negative_prompt")
                else "")
             + f" · seed {int(report['seed'])}"
             + (f" · {html.escape(str(report['size']))}" if report.get("size") else "")
             + f" · {counted(repeats, 'repeat')}"
             f" · LPIPS budget {lpips_budget:g} · ${price_per_hour:g} per hour"
             + (f" · {html.escape(str(report['device']))}" if report.get("device") else "")
             + (f" · {html.escape(str(when))}" if when else ""))
    baseline = next((r for r in reports if r["kind"] == "baseline"), {})
    command = links.setup_command(links.Setup(report["preset"], report["prompt"], int(report["seed"]),
                                              baseline.get("steps"), tuple(r["name"] for r in reports), repeats,
                                              size=links.report_size(report),
                                              negative_prompt=report.get("negative_prompt")))
    title = f"Comparison: {report['prompt']}"
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_PAGE_CSS}{readouts.CSS}</style></head><body>"
            f"<h1>Speed-Up Studio comparison</h1><div class='setup'>{setup}</div>"
            f"{readouts.status_html(verdict)}{readouts.grid_html(cards)}"
            f"<table class='summary'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p class='setup'>Run it again: <code>{html.escape(command)}</code></p></body></html>\n")


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value == float("inf"):
        return "∞"
    return html.escape(str(value))


def write_compare_html(folder: Path, report: dict, outputs: dict[str, np.ndarray] | None, price_per_hour: float,
                       lpips_budget: float, repeats: int = 1, width: int | None = None) -> Path:
    """Write `folder`/report.html. Without `outputs`, each variant's media is read back from its files in `folder`
    (as `compare --out` saved them; `width`: the preset's, to cut a video's frame strip)."""
    if outputs is None:
        outputs = load_outputs(report["variants"], folder, width or 0)
    path = folder / "report.html"
    path.write_text(render_compare_html(report, outputs, price_per_hour, lpips_budget, repeats), encoding="utf-8")
    return path
