"""Aggregates per variant from bench rows (plain dicts; no torch): latency, throughput, cost, quality, worst cases.

- latency p50 / p95: percentiles of end-to-end seconds per generation (numpy's linear interpolation);
- throughput: generations per hour at batch 1, one after another (3600 / mean latency);
- cost per 1,000 generations: hourly price x 1000 x mean latency / 3600;
- speedup: the baseline's p50 latency / the variant's p50 latency (medians resist a stray slow run);
- LPIPS mean and p95, PSNR median (identical outputs have infinite PSNR, which a mean cannot hold), SSIM mean,
  adherence and fidelity means (embedded presets), and adherence against the baseline's paired per prompt with
  a 95% interval (studio.bench.paired);
- worst-k: the prompts with the highest LPIPS, each with the baseline's and the variant's media.

Example:
    summary = summarize(rows, gpu_price=2.5)
    summary["variants"]["teacache"]["latency_p50_s"]
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from studio.bench.paired import paired_difference
from studio.pricing import cost_per_1000, price_for


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation; None for no values."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _number(v) -> float | None:
    """A metric's value as a float; PSNR's "inf" string (identical outputs) is float('inf'); None if not a number."""
    if v == "inf":
        v = math.inf
    if isinstance(v, int | float) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v)):
        return float(v)
    return None


def _metric(rows: list[dict], key: str) -> list[float]:
    """Numeric values of a metric over rows (those without one are left out)."""
    return [v for r in rows if (v := _number(r.get(key))) is not None]


def _median_with_inf(values: list[float]) -> float | None:
    """The median where some values are infinite (numpy's interpolation between two infinities gives NaN)."""
    return statistics.median(values) if values else None


def _worst(rows: list[dict], baseline_rows: dict[int, dict], k: int) -> list[dict]:
    scored = sorted((r for r in rows if isinstance(r.get("lpips"), int | float)), key=lambda r: -r["lpips"])
    return [{"prompt_index": r["prompt_index"], "prompt": r["prompt"], "seed": r["seed"], "lpips": r["lpips"],
             "psnr": math.inf if r.get("psnr") == "inf" else r.get("psnr"), "ssim": r.get("ssim"), "media": r["media"],
             "baseline_media": baseline_rows.get(r["prompt_index"], {}).get("media", [])} for r in scored[:k]]


def _adherence_against_baseline(rows: list[dict], baseline_rows: dict[int, dict]) -> dict | None:
    """Paired over the prompts both scored; None where there is no checker (real models) or nothing to pair."""
    pairs = [(reference, other) for r in rows
             if (other := _number(r.get("adherence"))) is not None
             and (reference := _number(baseline_rows.get(r["prompt_index"], {}).get("adherence"))) is not None]
    if len(pairs) < 2:
        return None
    reference, other = zip(*pairs, strict=True)
    return {"prompts": len(pairs), **paired_difference(list(reference), list(other))}


def summarize_variant(rows: list[dict], baseline_p50: float | None, price: float | None,
                      baseline_rows: dict[int, dict], worst_k: int) -> dict:
    ok = [r for r in rows if not r.get("error")]
    latencies = _metric(ok, "latency_s")
    mean_latency = _mean(latencies)
    p50 = percentile(latencies, 50)
    psnr = _metric(ok, "psnr")
    first = rows[0]
    return {
        "variant": first["variant"], "slug": first["slug"], "kind": first["kind"], "steps": first["steps"],
        "prompts": len(rows), "errors": len(rows) - len(ok),
        "latency_mean_s": mean_latency, "latency_p50_s": p50, "latency_p95_s": percentile(latencies, 95),
        "throughput_per_hour": 3600 / mean_latency if mean_latency else None,
        "cost_per_1000": cost_per_1000(mean_latency, price) if None not in (mean_latency, price) else None,
        "speedup": baseline_p50 / p50 if baseline_p50 and p50 else None,
        "peak_bytes": max(_metric(ok, "peak_bytes"), default=None),
        "weights_bytes": max(_metric(ok, "weights_bytes"), default=None),
        "computed_steps_mean": _mean(_metric(ok, "computed_steps")),
        # set only when the cache saved nothing on every prompt (why, from the first row)
        "cache_idle_reason": ok[0].get("cache_idle_reason") if ok and all(r.get("cache_idle_reason") for r in ok)
        else None,
        "lpips_mean": _mean(_metric(ok, "lpips")), "lpips_p95": percentile(_metric(ok, "lpips"), 95),
        "psnr_median": _median_with_inf(psnr),
        "ssim_mean": _mean(_metric(ok, "ssim")),
        "adherence_mean": _mean(_metric(ok, "adherence")), "fidelity_mean": _mean(_metric(ok, "fidelity")),
        "adherence_vs_baseline": None if first["kind"] == "baseline"
        else _adherence_against_baseline(ok, baseline_rows),
        "worst": _worst(ok, baseline_rows, worst_k),
    }


def summarize(rows: list[dict], gpu_price: float | None = None, worst_k: int = 4,
              order: list[str] | None = None) -> dict:
    """Aggregates of every variant in `rows` (in `order` of slugs, else first appearance), keyed by variant name.

    The baseline is the variant of kind 'baseline'; its p50 latency is the speedup reference.
    """
    if not rows:
        raise ValueError("no results to summarize")
    by_slug: dict[str, list[dict]] = {}
    for r in rows:
        by_slug.setdefault(r["slug"], []).append(r)
    slugs = [s for s in (order or by_slug) if s in by_slug]
    base_slug = next((s for s in slugs if by_slug[s][0]["kind"] == "baseline"), None)
    base_rows = {r["prompt_index"]: r for r in by_slug.get(base_slug, []) if not r.get("error")}
    base_p50 = percentile(_metric(base_rows.values(), "latency_s"), 50) if base_slug else None
    device = rows[0]["device"]
    price, price_source = price_for(device, gpu_price)
    variants = {}
    for slug in slugs:
        s = summarize_variant(by_slug[slug], base_p50, price, base_rows, worst_k)
        variants[s["variant"]] = s
    return {
        "preset": rows[0]["preset"], "device": device, "threads": rows[0].get("threads"),
        "prompts": len({r["prompt_index"] for r in rows}), "baseline": by_slug[base_slug][0]["variant"]
        if base_slug else None, "price_per_hour": price, "price_source": price_source, "variants": variants,
    }
