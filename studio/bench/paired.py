"""A difference between two variants' per-prompt scores on the same prompts, with a 95% interval (numpy only)."""

from __future__ import annotations

import numpy as np

Z95 = 1.959964  # two-sided 95% normal quantile


def paired_difference(reference: list[float], other: list[float]) -> dict:
    """`other`'s mean minus `reference`'s, in points (x100), on the same prompts and noise, with a 95% interval.

    Scores per prompt in [0, 1]: adherent or not (each d_i is -1, 0 or +1), or a share of objects right. Paired,
    so the interval is far narrower than two independent 200-prompt figures would give: prompts both get right or
    both get wrong cancel. Normal approximation on the mean of d_i. `only_reference` / `only_this` count the prompts
    where one scored higher.
    """
    if len(reference) != len(other) or not reference:
        raise ValueError("a paired difference needs the same, non-empty list of prompts for both variants")
    d = np.asarray(other, dtype=float) - np.asarray(reference, dtype=float)
    mean = float(d.mean())
    half = Z95 * float(d.std(ddof=1)) / np.sqrt(len(d)) if len(d) > 1 else float("inf")
    # (a difference of scores in [0, 1] cannot leave [-100, 100] points, however few the prompts)
    low, high = max(-100.0, 100 * (mean - half)), min(100.0, 100 * (mean + half))
    return {"points": 100 * mean, "ci95": [float(low), float(high)],
            "only_reference": int((d < 0).sum()), "only_this": int((d > 0).sum())}


def paired_text(versus: dict | None) -> str:
    """'-12.0 [-23.7, -0.3]': a paired difference and its interval, in points; '–' where there is none."""
    if not versus:
        return "–"
    return f"{versus['points']:+.1f} [{versus['ci95'][0]:+.1f}, {versus['ci95'][1]:+.1f}]"
