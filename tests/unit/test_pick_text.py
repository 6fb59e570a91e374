"""The status line's verdict after a comparison: the variant the star marks and why, and when one run is too close
to call."""

from studio.ui.readouts import pick_text


def _r(name: str, speedup: float, lpips: float | None, kind: str = "cached", error: str | None = None) -> dict:
    return {"name": name, "slug": name, "kind": kind, "speedup": speedup, "error": error,
            "metrics": {} if lpips is None else {"lpips": lpips}}


BASE = _r("baseline", 1.0, None, kind="baseline")


def test_the_fastest_within_budget_is_named_with_its_figures():
    reports = [BASE, _r("teacache", 2.1, 0.001), _r("naive4", 9.9, 0.3), _r("distilled", 15.4, 0.007)]
    assert pick_text(reports, 0.1, 1) == " Fastest within LPIPS ≤ 0.1: distilled, ×15.40 (LPIPS 0.007)."


def test_a_close_runner_up_on_one_run_asks_for_repeats():
    reports = [BASE, _r("naive4", 9.92, 0.09), _r("distilled", 9.0, 0.016)]
    text = pick_text(reports, 0.1, 1)
    assert "naive4, ×9.92" in text and "distilled (×9.00) is within 15% of it on one run: raise Repeats" in text
    assert "Repeats" not in pick_text(reports, 0.1, 3)  # medians of 3 rounds: the order stands


def test_nothing_qualifies_or_nothing_scored():
    assert pick_text([BASE, _r("int8", 0.9, 0.0), _r("naive4", 9.0, 0.3)], 0.1, 1) == \
        " No variant is both faster than the baseline and within LPIPS ≤ 0.1."
    assert pick_text([BASE, _r("int8", 0.9, None)], 0.1, 1) == ""  # LPIPS unavailable: the status says why instead
    assert pick_text([BASE, _r("broken", 20.0, 0.0, error="boom")], 0.1, 1).startswith(" No variant")
