"""The code to deploy what a comparison picked: a runnable `recommended.py` for its starred variant (the fastest
within the LPIPS budget), or for a variant named, at the comparison's prompt, seed, steps and size.

No gradio here: the page's "Code" button and download, and `python -m studio compare --out`, all use it.

Example:
    name, code = recommended_code(report, lpips_budget=0.1)   # report: a finished comparison's report.json
    Path("recommended.py").write_text(code)                   # then: python recommended.py
"""

from __future__ import annotations

from pathlib import Path

from studio.bench.snippet import reproduction_snippet
from studio.presets import load_preset
from studio.sizes import at_size, parse_size
from studio.ui import readouts


def recommended_code(report: dict, lpips_budget: float, name: str | None = None) -> tuple[str, str]:
    """(variant name, Python source) for `name`, or for the starred variant (the baseline when none is within the
    budget). Raises ValueError for a name the comparison did not run, or one that failed."""
    reports = report["variants"]
    by_name = {r["name"]: r for r in reports}
    if name is None:
        best = readouts.best_within_budget(reports, lpips_budget)
        chosen = next((r for r in reports if r["slug"] == best), None) or next(
            (r for r in reports if r["kind"] == "baseline"), reports[0])
        why = (f"the fastest variant within LPIPS ≤ {lpips_budget:g} in this comparison" if best
               else f"no variant was within LPIPS ≤ {lpips_budget:g}: the baseline")
    elif name in by_name:
        chosen, why = by_name[name], "picked on the Compare page"
    else:
        raise ValueError(f"'{name}' is not in this comparison; it ran: {', '.join(by_name)}")
    if chosen.get("error"):
        raise ValueError(f"'{chosen['name']}' failed in this comparison ({chosen['error']}); pick one that ran")
    preset = load_preset(report["preset"])
    variant = preset.variant(chosen["name"] if chosen["name"] in preset.variants else chosen["slug"])
    baseline = next((r for r in reports if r["kind"] == "baseline"), {})
    size = parse_size(preset, report.get("size"))
    code = reproduction_snippet(at_size(preset, size), variant, report["prompt"], int(report["seed"]),
                                baseline.get("steps"), why, chosen_by="python -m studio compare",
                                negative_prompt=report.get("negative_prompt"))
    return chosen["name"], code


def write_recommended_code(folder: Path, report: dict, lpips_budget: float) -> tuple[str, Path] | None:
    """Write `folder`/recommended.py for the starred variant; (its name, the path), or None when every variant
    failed (there is nothing to deploy)."""
    try:
        name, code = recommended_code(report, lpips_budget)
    except ValueError:
        return None
    path = folder / "recommended.py"
    path.write_text(code, encoding="utf-8")
    return name, path
