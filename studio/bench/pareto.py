"""The speed/quality trade-off: the Pareto front (speedup up, mean LPIPS down) and a recommendation in words.

Example:
    front = pareto_front(summary["variants"])          # names on the front, fastest first
    rec = recommend(summary["variants"], budget_mean_lpips=0.1, budget_p95_lpips=0.2)
    rec["variant"], rec["reason"]
"""

from __future__ import annotations

from studio.variant import naive_counterparts
from studio.wording import counted


def _point(s: dict) -> tuple[float, float] | None:
    """(speedup, mean LPIPS) of a variant that ran without errors and has both figures."""
    if s.get("errors") or s.get("speedup") is None or s.get("lpips_mean") is None:
        return None
    return s["speedup"], s["lpips_mean"]


def pareto_front(variants: dict[str, dict]) -> list[str]:
    """Names of the variants no other variant beats on both axes (at least as fast and as close, better on one)."""
    points = {name: p for name, s in variants.items() if (p := _point(s)) is not None}
    front = []
    for name, (speed, lp) in points.items():
        dominated = any(o_speed >= speed and o_lp <= lp and (o_speed > speed or o_lp < lp)
                        for other, (o_speed, o_lp) in points.items() if other != name)
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: -points[n][0])


def _figures(name: str, s: dict) -> str:
    return f"{name} ({s['speedup']:.2f}x, mean LPIPS {s['lpips_mean']:.3f}, p95 {s['lpips_p95']:.3f})"


def _distillation_notes(scored: dict[str, dict]) -> list[str]:
    """What each distilled variant bought over the naive variant of its step count (the base model simply run for
    as few steps), over the bench's prompts, when both were scored."""
    notes = []
    for d_name, n_name in naive_counterparts([(n, s.get("kind"), s.get("steps")) for n, s in scored.items()]):
        d, n = scored[d_name], scored[n_name]
        note = (f"over {counted(d['prompts'], 'prompt')} at {counted(d['steps'], 'step')}, {d_name} against {n_name} "
                f"(the base model run for as few steps): mean LPIPS {d['lpips_mean']:.3f} against "
                f"{n['lpips_mean']:.3f}")
        if d.get("adherence_mean") is not None and n.get("adherence_mean") is not None:
            note += f", adherence {d['adherence_mean']:.2f} against {n['adherence_mean']:.2f}"
        notes.append(note)
    return notes


def recommend(variants: dict[str, dict], budget_mean_lpips: float, budget_p95_lpips: float) -> dict:
    """The fastest variant, faster than the baseline, whose mean LPIPS <= budget and p95 LPIPS <= p95 budget.

    Returns {"variant": name or None, "reason": words, "within_budget": [...], "over_budget": [...]}.
    """
    for label, value in (("mean LPIPS budget", budget_mean_lpips), ("p95 LPIPS budget", budget_p95_lpips)):
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"the {label} must be a number from 0 to 1, got {value!r}")
    budget = f"mean LPIPS <= {budget_mean_lpips:g} and p95 <= {budget_p95_lpips:g}"
    candidates = {n: s for n, s in variants.items() if s.get("kind") != "baseline"}
    failed = [n for n, s in candidates.items() if s.get("errors")]
    no_lpips = [n for n, s in candidates.items() if not s.get("errors") and s.get("lpips_mean") is None]
    scored = {n: s for n, s in candidates.items() if _point(s) is not None}
    within = {n: s for n, s in scored.items()
              if s["lpips_mean"] <= budget_mean_lpips and s["lpips_p95"] <= budget_p95_lpips}
    over = {n: s for n, s in scored.items() if n not in within}
    faster = {n: s for n, s in within.items() if s["speedup"] > 1}
    notes = []
    if failed:
        notes.append(f"failed on some prompts, not considered: {', '.join(failed)}")
    if no_lpips:
        notes.append(f"no LPIPS (run `python -m studio.metrics.prepare`), not considered: {', '.join(no_lpips)}")
    idle: dict[str, list[str]] = {}  # why -> the variants whose cache reused no step on any prompt
    for n, s in candidates.items():
        if s.get("cache_idle_reason"):
            idle.setdefault(s["cache_idle_reason"], []).append(n)
    for reason, names in idle.items():
        whose = f"{names[0]}'s cache" if len(names) == 1 else f"the caches of {', '.join(names)}"
        notes.append(f"{whose} reused no step on any prompt: nothing saved ({reason})")
    notes += _distillation_notes(scored)
    result = {"variant": None, "budget": {"mean_lpips": budget_mean_lpips, "p95_lpips": budget_p95_lpips},
              "within_budget": sorted(within, key=lambda n: -within[n]["speedup"]),
              "over_budget": sorted(over, key=lambda n: -over[n]["speedup"])}
    if faster:
        best = max(faster, key=lambda n: faster[n]["speedup"])
        s = faster[best]
        reason = (f"{best} is the fastest variant within the budget ({budget}): {s['speedup']:.2f}x the baseline's "
                  f"speed (p50 {s['latency_p50_s']:.3f} s), mean LPIPS {s['lpips_mean']:.3f} and p95 "
                  f"{s['lpips_p95']:.3f} over {counted(s['prompts'], 'prompt')}.")
        if versus := s.get("adherence_vs_baseline"):
            low, high = versus["ci95"]
            reason += (f" Adherence against the baseline's, paired over {counted(versus['prompts'], 'prompt')}: "
                       f"{versus['points']:+.1f} points (95% CI {low:+.1f} to {high:+.1f}"
                       + ("; a real loss, which the LPIPS budget does not see)." if high < 0 else ")."))
        quicker = [n for n in result["over_budget"] if over[n]["speedup"] > s["speedup"]]
        if quicker:
            reason += " Faster but over budget: " + "; ".join(_figures(n, over[n]) for n in quicker) + "."
        result["variant"] = best
    elif within:
        reason = (f"No variant within the budget ({budget}) is faster than the baseline: "
                  + "; ".join(_figures(n, within[n]) for n in result["within_budget"]) + ". Keep the baseline.")
    elif over:
        closest = min(over, key=lambda n: over[n]["lpips_mean"])
        reason = (f"No variant stays within the budget ({budget}); the closest is {_figures(closest, over[closest])}. "
                  f"Keep the baseline, or raise the budget if that quality is acceptable.")
    else:
        reason = "No variant could be scored against the baseline, so nothing can be recommended."
    result["reason"] = " ".join([reason, *(n[0].upper() + n[1:] + "." for n in notes)])
    return result
