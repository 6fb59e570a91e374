"""Everything a finished (or partly finished) bench writes: aggregates, recommendation, chart, grid, reports.

Example:
    result = write_outputs(Path("out/bench"), preset, run.rows, variants, budget=(0.1, 0.2))
    result["recommendation"]["reason"]
"""

from __future__ import annotations

import io
from pathlib import Path

from studio.bench.aggregate import summarize
from studio.bench.chart import pareto_chart_png
from studio.bench.export import render_html, write_json, write_results_csv, write_summary_csv
from studio.bench.grid import render_grid
from studio.bench.pareto import pareto_front, recommend
from studio.bench.snippet import reproduction_snippet
from studio.bench.sweep import SweepPlan
from studio.engine.request import Generation
from studio.presets import Preset
from studio.sizes import at_size
from studio.variant import Variant

GRID_PROMPTS = 4  # rows of the plain grid (no sweep): the first prompts of the set
FILES = ("bench.jsonl", "summary.json", "summary.csv", "results.csv", "report.html", "recommended.py", "grid.png",
         "pareto.png")


def _caption(s: dict | None) -> str:
    if not s or s.get("speedup") is None:
        return "failed" if s else "not run"
    lp = s.get("lpips_mean")
    return f"all: {s['speedup']:.2f}x" + (f" · LPIPS {lp:.3f}" if lp is not None else "")


def _media(rows: dict, prompt_index: int, slug: str, out_dir: Path) -> Path | None:
    row = rows.get((prompt_index, slug))
    png = next((p for p in reversed(row["media"]) if p.endswith(".png")), None) if row else None
    return out_dir / png if png else None


def grid_image(out_dir: Path, rows: list[dict], variants: list[Variant], summary: dict, title: str,
               sweep: SweepPlan | None = None):
    """Plain: the first prompts (rows) x variants (columns). Sweep: the first prompt, axis values as X/Y."""
    by_key = {(r["prompt_index"], r["slug"]): r for r in rows}
    by_slug = {s["slug"]: s for s in summary["variants"].values()}
    indexes = sorted({r["prompt_index"] for r in rows})
    if sweep is None:
        shown = indexes[:GRID_PROMPTS]
        prompts = {r["prompt_index"]: r["prompt"] for r in rows}
        cells = [[(_media(by_key, i, v.slug, out_dir), _caption(by_slug.get(v.slug)) if n == 0 else "")
                  for v in variants] for n, i in enumerate(shown)]
        return render_grid(cells, [f"#{i + 1} {prompts[i]}" for i in shown], [v.name for v in variants], title)
    first = indexes[0] if indexes else 0
    x_axis = sweep.axes[0]
    y_axis = sweep.axes[1] if len(sweep.axes) == 2 else None
    row_keys = [(b.name, y) for b in sweep.bases for y in (y_axis.values if y_axis else (None,))]
    reference = (_media(by_key, first, variants[0].slug, out_dir), "reference")  # the baseline opens every row
    cells = [[reference] + [(_media(by_key, first, sweep.cells[(b, x, y)].slug, out_dir),
                             _caption(by_slug.get(sweep.cells[(b, x, y)].slug))) for x in x_axis.values]
             for b, y in row_keys]
    labels = [b if y is None else f"{b} {y_axis.label(y)}" for b, y in row_keys]
    columns = [variants[0].name] + [x_axis.label(x) for x in x_axis.values]
    prompt = next((r["prompt"] for r in rows if r["prompt_index"] == first), "")
    return render_grid(cells, labels, columns, f"{title}, prompt #{first + 1}: {prompt}")


def write_outputs(out_dir: Path, preset: Preset, rows: list[dict], variants: list[Variant],
                  budget: tuple[float, float] = (0.1, 0.2), gpu_price: float | None = None,
                  sweep: SweepPlan | None = None,
                  generation: Generation = Generation(),  # noqa: B008 (frozen: a shared default is safe)
                  command: str = "", worst_k: int = 4, stopped: bool = False) -> dict:
    """Write summary.json/.csv, results.csv, report.html, recommended.py, grid.png, pareto.png; returns the summary.

    The summary holds the aggregates, the Pareto front and the recommendation.
    """
    out_dir = Path(out_dir)
    summary = summarize(rows, gpu_price=gpu_price, worst_k=worst_k, order=[v.slug for v in variants])
    front = pareto_front(summary["variants"])
    recommendation = recommend(summary["variants"], *budget)
    summary.update(pareto_front=front, recommendation=recommendation, base_steps=generation.steps, command=command,
                   size=generation.size_text(preset),
                   stopped=stopped)  # cancelled before its last result: a page can offer to resume it
    chart = pareto_chart_png(summary["variants"], front, recommendation["variant"], budget[0])
    (out_dir / "pareto.png").write_bytes(chart)
    buffer = io.BytesIO()
    grid_image(out_dir, rows, variants, summary, f"{preset.name} bench", sweep).save(buffer, format="PNG")
    (out_dir / "grid.png").write_bytes(buffer.getvalue())
    chosen_name = recommendation["variant"] or summary["baseline"]
    chosen = next(v for v in variants if v.slug == summary["variants"][chosen_name]["slug"])
    first = min(rows, key=lambda r: r["prompt_index"])
    why = recommendation["reason"] if recommendation["variant"] else "no variant qualified; this is the baseline"
    (out_dir / "recommended.py").write_text(
        reproduction_snippet(at_size(preset, generation.size), chosen, first["prompt"], first["seed"], generation.steps,
                             why, negative_prompt=generation.negative_prompt))
    summary["recommended_snippet"] = "recommended.py"
    write_json(out_dir / "summary.json", summary)
    write_summary_csv(out_dir / "summary.csv", summary)
    write_results_csv(out_dir / "results.csv", rows)
    (out_dir / "report.html").write_text(
        render_html(summary, recommendation, front, chart, buffer.getvalue(), out_dir, command), encoding="utf-8")
    return summary
