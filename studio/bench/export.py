"""Bench exports: summary.json, summary.csv (per variant), results.csv (per result) and one self-contained HTML.

The HTML inlines every image (base64 PNG) and the chart, and links nothing outside itself, so it can be mailed
or attached to a ticket and still open offline.

Example:
    write_json(out / "summary.json", summary)
    (out / "report.html").write_text(render_html(summary, recommendation, chart_png, grid_png, out))
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from pathlib import Path

from studio.bench.paired import paired_text
from studio.metrics.serialize import json_safe
from studio.wording import counted

SUMMARY_COLUMNS = [
    "variant", "slug", "kind", "steps", "prompts", "errors", "latency_p50_s", "latency_p95_s", "latency_mean_s",
    "throughput_per_hour", "cost_per_1000", "speedup", "peak_bytes", "weights_bytes", "computed_steps_mean",
    "lpips_mean", "lpips_p95", "psnr_median", "ssim_mean", "adherence_mean", "fidelity_mean",
    "adherence_vs_baseline_points", "adherence_vs_baseline_ci_low", "adherence_vs_baseline_ci_high",
]
RESULT_COLUMNS = [
    "prompt_index", "prompt", "seed", "variant", "slug", "kind", "steps", "latency_s", "denoise_s", "peak_bytes",
    "weights_bytes", "computed_steps", "lpips", "psnr", "ssim", "adherence", "fidelity", "error", "media", "device",
]


def write_json(path: Path, data) -> None:
    Path(path).write_text(json.dumps(json_safe(data), indent=2, allow_nan=False))


def _cell(value):
    if isinstance(value, float):
        return "inf" if math.isinf(value) else repr(value)  # shortest text that reads back exactly
    if isinstance(value, list):
        return " ".join(map(str, value))
    return "" if value is None else value


def write_summary_csv(path: Path, summary: dict) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, SUMMARY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for s in summary["variants"].values():
            writer.writerow({k: _cell(v) for k, v in _flat_summary(s).items()})


def _flat_summary(s: dict) -> dict:
    """One variant's summary as CSV cells: the paired adherence difference spread over three columns."""
    versus = s.get("adherence_vs_baseline") or {}
    low, high = versus.get("ci95", (None, None))
    return {**{k: s.get(k) for k in SUMMARY_COLUMNS}, "adherence_vs_baseline_points": versus.get("points"),
            "adherence_vs_baseline_ci_low": low, "adherence_vs_baseline_ci_high": high}


def write_results_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, RESULT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _cell(r.get(k)) for k in RESULT_COLUMNS})


# ---- HTML --------------------------------------------------------------------------------------------------------
def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _media_uri(paths: list[str], out_dir: Path) -> str | None:
    png = next((out_dir / p for p in reversed(paths) if p.endswith(".png")), None)
    return _data_uri(png.read_bytes()) if png is not None and png.is_file() else None


def _cost_note(summary: dict) -> str:
    price, source = summary["price_per_hour"], html.escape(summary["price_source"])
    return f"Cost at {price:.2f} USD/hour ({source})." if price is not None else f"Costs left blank: {source}."


def _fmt(value, spec: str = ".3f", suffix: str = "") -> str:
    if value is None:
        return "–"
    if value == "inf" or (isinstance(value, float) and math.isinf(value)):
        return "∞"
    return f"{value:{spec}}{suffix}" if isinstance(value, int | float) else html.escape(str(value))


def _mb(value) -> str:
    return "–" if value is None else f"{value / 2**20:.1f} MB"


def _table(summary: dict, front: list[str], recommended: str | None) -> str:
    head = ("variant", "slug", "p50", "p95", "speedup", "gen/hour", "$ / 1000", "peak mem", "weights", "LPIPS mean",
            "LPIPS p95", "PSNR med.", "SSIM", "adherence", "adherence vs baseline, points [95% CI]", "fidelity",
            "errors")
    out = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for name, s in summary["variants"].items():
        marks = (" ★" if name == recommended else "") + (" ◆" if name in front else "")
        cells = [html.escape(name) + marks, html.escape(s["slug"]), _fmt(s["latency_p50_s"], ".3f", " s"),
                 _fmt(s["latency_p95_s"], ".3f", " s"), _fmt(s["speedup"], ".2f", "×"),
                 _fmt(s["throughput_per_hour"], ",.0f"), _fmt(s["cost_per_1000"], ".4f"), _mb(s["peak_bytes"]),
                 _mb(s["weights_bytes"]), _fmt(s["lpips_mean"]), _fmt(s["lpips_p95"]),
                 _fmt(s["psnr_median"], ".1f", " dB"), _fmt(s["ssim_mean"]), _fmt(s["adherence_mean"], ".2f"),
                 paired_text(s.get("adherence_vs_baseline")), _fmt(s["fidelity_mean"], ".3f"), str(s["errors"])]
        row_class = ' class="rec"' if name == recommended else ""
        out.append(f"<tr{row_class}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "\n".join(out) + "</tbody></table>"


def _worst_section(summary: dict, out_dir: Path) -> str:
    parts = []
    for name, s in summary["variants"].items():
        if s["kind"] == "baseline" or not s["worst"]:
            continue
        pairs = []
        for w in s["worst"]:
            base, var = _media_uri(w["baseline_media"], out_dir), _media_uri(w["media"], out_dir)
            images = "".join(f'<figure><img src="{uri}" alt="{label}"><figcaption>{label}</figcaption></figure>'
                             for uri, label in ((base, "baseline"), (var, html.escape(name))) if uri)
            pairs.append(f'<div class="pair">{images}<p>#{w["prompt_index"] + 1} “{html.escape(w["prompt"])}” '
                         f'seed {w["seed"]}<br>LPIPS {_fmt(w["lpips"])}, PSNR {_fmt(w["psnr"], ".1f")} dB</p></div>')
        parts.append(f"<h3>{html.escape(name)}: the {counted(len(pairs), 'prompt')} furthest from the baseline</h3>"
                     f'<div class="pairs">{"".join(pairs)}</div>')
    return "\n".join(parts)


def _memory_note(summary: dict) -> str:
    if summary["device"] != "cpu":
        return " Peak memory is the GPU allocator's peak during the run."
    return (" On a CPU, peak memory is the whole process's resident set (every loaded pipeline), so it barely differs"
            " between variants; the weights column shows what each variant's denoiser holds.")


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#212529;max-width:1400px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td:nth-child(2){text-align:left}tr.rec{background:#fff4e6;font-weight:600}
.rec-box{border-left:4px solid #d9480f;background:#fff4e6;padding:10px 14px;margin:14px 0}
.pairs{display:flex;flex-wrap:wrap;gap:14px}.pair{border:1px solid #dee2e6;padding:8px;width:290px}
.pair figure{display:inline-block;margin:0 6px 0 0}.pair img{width:128px;image-rendering:pixelated}
.pair p{margin:6px 0 0;font-size:12px}figcaption{font-size:12px;text-align:center}
img.chart,img.grid{max-width:100%;border:1px solid #dee2e6}img.grid{image-rendering:pixelated}
"""


def render_html(summary: dict, recommendation: dict, front: list[str], chart_png: bytes, grid_png: bytes | None,
                out_dir: Path, command: str = "") -> str:
    """The whole report as one HTML string: figures, recommendation, chart, grid, worst cases; no external links."""
    title = f"Bench: {summary['preset']} on {counted(summary['prompts'], 'prompt')}"
    rec = recommendation["variant"]
    budget = recommendation["budget"]
    grid = f'<h2>Grid</h2><img class="grid" src="{_data_uri(grid_png)}" alt="image grid">' if grid_png else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Device {html.escape(str(summary['device']))} ({summary.get('threads')} threads), batch 1.
{_cost_note(summary)}
Speedup = baseline p50 latency ÷ variant p50 latency; LPIPS, PSNR and SSIM are measured against the baseline's
output for the same prompt and seed.{_memory_note(summary)}</p>
{f'<p><code>{html.escape(command)}</code></p>' if command else ''}
<div class="rec-box" id="recommendation"><b>Recommendation</b> (mean LPIPS ≤ {budget['mean_lpips']:g}, p95 ≤
{budget['p95_lpips']:g}): <b>{html.escape(rec or 'none — keep the baseline')}</b><br>
{html.escape(recommendation['reason'])}</div>
<h2>Per variant</h2>
{_table(summary, front, rec)}
<p>★ recommended · ◆ on the Pareto front (no other variant is both at least as fast and at least as close)</p>
<h2>Pareto chart</h2>
<img class="chart" id="pareto" src="{_data_uri(chart_png)}" alt="speedup vs mean LPIPS">
{grid}
<h2>Worst cases</h2>
{_worst_section(summary, out_dir)}
</body></html>
"""
