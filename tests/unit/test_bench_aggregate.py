"""Aggregates, percentiles, the Pareto front and the recommendation on synthetic rows, checked by hand."""

import math

import pytest

from studio.bench.aggregate import percentile, summarize
from studio.bench.pareto import pareto_front, recommend


def _rows(variant, kind, latencies, lpips=None, psnr=None, errors=(), slug=None):
    out = []
    for i, t in enumerate(latencies):
        out.append({"preset": "tiny-image", "device": "cpu", "threads": 1, "prompt_index": i, "prompt": f"p{i}",
                    "seed": 100 + i, "variant": variant, "slug": slug or variant, "kind": kind, "steps": 50,
                    "latency_s": t, "peak_bytes": 1000 + i, "weights_bytes": 500, "computed_steps": 50,
                    "lpips": None if lpips is None else lpips[i], "psnr": None if psnr is None else psnr[i],
                    "ssim": 0.9, "adherence": 1.0 if i % 2 else 0.0, "fidelity": 0.5,
                    "media": [f"media/p{i:05d}/{variant}.png"], "error": "boom" if i in errors else None})
    return out


def test_percentiles_interpolate_linearly():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)  # index 0.95 * 3 = 2.85 -> 3 + 0.85
    assert percentile([7.0], 95) == 7.0 and percentile([], 50) is None


def test_per_variant_aggregates_by_hand():
    rows = (_rows("baseline", "baseline", [2.0, 2.0, 4.0, 4.0], lpips=[0, 0, 0, 0], psnr=["inf"] * 4)
            + _rows("fast", "cached", [1.0, 1.0, 1.0, 2.0], lpips=[0.1, 0.2, 0.3, 0.4], psnr=[30, "inf", 20, 40]))
    s = summarize(rows, gpu_price=2.0, worst_k=2)
    base, fast = s["variants"]["baseline"], s["variants"]["fast"]
    assert s["baseline"] == "baseline" and s["prompts"] == 4 and s["price_source"] == "given"
    assert base["latency_p50_s"] == 3.0 and fast["latency_p50_s"] == 1.0
    assert fast["latency_p95_s"] == pytest.approx(1.85)  # sorted [1,1,1,2]: index 2.85 -> 1 + 0.85
    assert fast["latency_mean_s"] == 1.25
    assert fast["throughput_per_hour"] == pytest.approx(3600 / 1.25)  # 2880 generations an hour
    assert fast["cost_per_1000"] == pytest.approx(2.0 * 1000 * 1.25 / 3600)  # 0.694 USD
    assert base["cost_per_1000"] == pytest.approx(2.0 * 1000 * 3.0 / 3600)
    assert fast["speedup"] == 3.0 and base["speedup"] == 1.0
    assert fast["lpips_mean"] == pytest.approx(0.25) and fast["lpips_p95"] == pytest.approx(0.385)
    assert fast["psnr_median"] == 35.0  # sorted [20, 30, 40, inf]: (30 + 40) / 2
    assert math.isinf(base["psnr_median"])
    assert fast["adherence_mean"] == 0.5 and fast["peak_bytes"] == 1003
    assert [w["prompt_index"] for w in fast["worst"]] == [3, 2]  # highest LPIPS first
    assert fast["worst"][0]["baseline_media"] == ["media/p00003/baseline.png"]


def test_errors_are_counted_and_left_out_of_the_figures():
    rows = _rows("baseline", "baseline", [1.0, 1.0, 1.0]) + _rows("bad", "quantized", [9.0, 0.5, 0.5], errors=(0,))
    bad = summarize(rows)["variants"]["bad"]
    assert bad["errors"] == 1 and bad["prompts"] == 3 and bad["latency_p50_s"] == 0.5 and bad["speedup"] == 2.0


def test_unknown_device_leaves_costs_blank_instead_of_failing():
    rows = [{**r, "device": "NVIDIA GeForce RTX 4090"} for r in _rows("baseline", "baseline", [1.0, 2.0])]
    summary = summarize(rows)
    assert summary["price_per_hour"] is None and "--gpu-price" in summary["price_source"]
    assert summary["variants"]["baseline"]["cost_per_1000"] is None
    assert summarize(rows, gpu_price=3.6)["variants"]["baseline"]["cost_per_1000"] == pytest.approx(1.5)


def _variant(speedup, mean, p95, kind="cached", errors=0):
    return {"speedup": speedup, "lpips_mean": mean, "lpips_p95": p95, "kind": kind, "errors": errors,
            "latency_p50_s": 1 / speedup, "prompts": 50}


@pytest.fixture
def variants():
    return {
        "baseline": _variant(1.0, 0.0, 0.0, kind="baseline"),
        "b": _variant(2.0, 0.05, 0.15),
        "c": _variant(3.0, 0.20, 0.40),
        "d": _variant(1.5, 0.10, 0.12),  # dominated by b (faster and closer)
        "e": _variant(0.8, 0.01, 0.02, kind="quantized"),  # dominated by the baseline
        "broken": _variant(9.0, 0.0, 0.0, errors=3),
    }


def test_pareto_front(variants):
    assert pareto_front(variants) == ["c", "b", "baseline"]  # fastest first; failed variants are left out


def test_recommend_fastest_within_budget_with_reason(variants):
    rec = recommend(variants, 0.1, 0.2)
    assert rec["variant"] == "b"
    assert rec["within_budget"] == ["b", "d", "e"] and rec["over_budget"] == ["c"]
    assert "b is the fastest variant within the budget (mean LPIPS <= 0.1 and p95 <= 0.2): 2.00x" in rec["reason"]
    assert "Faster but over budget: c (3.00x, mean LPIPS 0.200, p95 0.400)" in rec["reason"]
    assert "Failed on some prompts, not considered: broken." in rec["reason"]
    assert recommend(variants, 0.1, 0.13)["variant"] == "d"  # b's p95 0.15 breaks the tighter p95 budget


def test_recommend_when_nothing_qualifies(variants):
    slow_only = recommend(variants, 0.01, 0.02)
    assert slow_only["variant"] is None
    assert slow_only["reason"].startswith("No variant within the budget (mean LPIPS <= 0.01 and p95 <= 0.02) is "
                                          "faster than the baseline: e (0.80x")
    none = recommend(variants, 0.001, 0.001)
    assert none["variant"] is None and "No variant stays within the budget" in none["reason"]
    assert "the closest is e (0.80x, mean LPIPS 0.010" in none["reason"]
    with pytest.raises(ValueError, match="mean LPIPS budget must be a number from 0 to 1"):
        recommend(variants, 2, 0.1)


def test_a_cache_that_saved_nothing_on_every_prompt_is_named_in_the_recommendation():
    why = "on so few steps each one changes the sample too much to skip"
    idle = [dict(r, cache_idle_reason=why) for r in _rows("stack", "stacked", [0.1, 0.1], lpips=[0.01, 0.02])]
    idle += [dict(r, cache_idle_reason=why) for r in _rows("stack2", "stacked", [0.1, 0.1], lpips=[0.01, 0.02])]
    once = _rows("tea", "cached", [0.5, 0.5], lpips=[0.01, 0.02])
    once[0]["cache_idle_reason"] = why  # it skipped steps on the other prompt: nothing to say
    summary = summarize(_rows("baseline", "baseline", [1.0, 1.0]) + idle + once)
    variants = summary["variants"]
    assert variants["stack"]["cache_idle_reason"] == why and variants["tea"]["cache_idle_reason"] is None
    reason = recommend(variants, 0.1, 0.2)["reason"]
    assert f"The caches of stack, stack2 reused no step on any prompt: nothing saved ({why})." in reason
    assert "tea" not in reason.split("The caches of")[1]


def test_the_recommendation_sets_a_distilled_variant_against_naive_steps_of_its_count():
    naive = [dict(r, steps=4) for r in _rows("naive4", "naive", [0.1, 0.1], lpips=[0.05, 0.07])]
    student = [dict(r, steps=4) for r in _rows("distilled", "distilled", [0.08, 0.08], lpips=[0.01, 0.03])]
    two = [dict(r, steps=2) for r in _rows("distilled2", "distilled", [0.05, 0.05], lpips=[0.02, 0.04])]
    variants = summarize(_rows("baseline", "baseline", [1.0, 1.0], lpips=[0, 0]) + naive + student + two)["variants"]
    reason = recommend(variants, 0.1, 0.2)["reason"]
    assert ("Over 2 prompts at 4 steps, distilled against naive4 (the base model run for as few steps): mean LPIPS "
            "0.020 against 0.060, adherence 0.50 against 0.50.") in reason
    assert "distilled2 against" not in reason  # no naive variant of 2 steps ran: nothing to set it against


def test_adherence_is_set_against_the_baseline_prompt_by_prompt():
    base = _rows("baseline", "baseline", [2.0] * 6, lpips=[0] * 6)  # adherence 0, 1, 0, 1, 0, 1
    fast = _rows("fast", "cached", [1.0] * 6, lpips=[0.05] * 6, errors=(5,))
    for r, score in zip(fast, [1.0, 1.0, 0.0, 0.5, 0.0, 0.0], strict=True):
        r["adherence"] = score  # prompt 0 gained, prompt 3 lost half, prompt 5 failed (not paired)
    versus = summarize(base + fast)["variants"]["fast"]["adherence_vs_baseline"]
    assert versus["prompts"] == 5 and versus["points"] == pytest.approx(100 * (1.0 - 0.5) / 5)
    assert (versus["only_this"], versus["only_reference"]) == (1, 1)
    assert versus["ci95"][0] < versus["points"] < versus["ci95"][1]
    assert summarize(base + fast)["variants"]["baseline"]["adherence_vs_baseline"] is None
    rec = recommend(summarize(base + fast)["variants"], 0.1, 0.2)
    assert rec["variant"] is None  # it failed on a prompt: not considered
    real = [{**r, "adherence": None} for r in base + _rows("fast", "cached", [1.0] * 6, lpips=[0.05] * 6)]
    summary = summarize(real)  # a real model: no checker, nothing to pair
    assert summary["variants"]["fast"]["adherence_vs_baseline"] is None
    assert "Adherence against" not in recommend(summary["variants"], 0.1, 0.2)["reason"]


def test_the_recommendation_gives_the_paired_adherence_of_its_pick():
    base = _rows("baseline", "baseline", [2.0] * 4, lpips=[0] * 4)
    fast = _rows("fast", "distilled", [1.0] * 4, lpips=[0.05] * 4)
    fast[1]["adherence"] = 0.0  # one prompt of four lost
    rec = recommend(summarize(base + fast)["variants"], 0.1, 0.2)
    assert rec["variant"] == "fast"
    assert "Adherence against the baseline's, paired over 4 prompts: -25.0 points (95% CI" in rec["reason"]
    assert "a real loss" not in rec["reason"]  # one prompt of four: the interval spans zero
    many_base = _rows("baseline", "baseline", [2.0] * 40, lpips=[0] * 40)
    many_fast = _rows("fast", "distilled", [1.0] * 40, lpips=[0.05] * 40)
    for r in many_fast[1:20:2]:
        r["adherence"] = 0.0  # ten prompts of forty lost, none gained
    rec = recommend(summarize(many_base + many_fast)["variants"], 0.1, 0.2)
    assert "-25.0 points (95% CI" in rec["reason"]
    assert "a real loss, which the LPIPS budget does not see" in rec["reason"]
