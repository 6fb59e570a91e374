"""A step cache that saved nothing says why, on the card and in report.json (few steps leave nothing to skip)."""

import pytest

from studio.engine.caches import idle_cache_note, idle_cache_reason
from studio.ui.readouts import card_html
from studio.variant import CacheSpec


@pytest.mark.parametrize("spec, steps, reused, says", [
    (CacheSpec("teacache", 0.15), 4, 0, "reused none of its 4 steps: nothing saved (on so few steps"),
    (CacheSpec("fbc", 0.01), 50, 0, "reused none of its 50 steps: nothing saved (at threshold 0.01; raising threshold"),
    (CacheSpec("teacache", 0.15), 1, 0, "reused none of its 1 step: nothing saved (on so few steps"),
    (CacheSpec("teacache", 0.15), 4, 1, None),  # it saved a step: nothing to explain
    (CacheSpec("region", 0.2), 4, 0, None),  # saves within a step: every step shows computed anyway
])
def test_a_step_cache_that_saved_nothing_says_why(spec, steps, reused, says):
    reason = idle_cache_reason(spec, steps, reused)
    assert reason is None if says is None else idle_cache_note(steps, reason).startswith(says)


def test_the_card_shows_the_note():
    report = {"name": "distilled-tea", "slug": "student-tea0.15-s4", "kind": "stacked", "steps": 4, "speedup": 13.0,
              "timings": {"end_to_end_s": 0.05, "per_step_ms": 12.0}, "memory": {}, "metrics": {"lpips": 0.01},
              "cache": {"computed_steps": 4, "reused_steps": 0, "timeline": ["computed"] * 4,
                        "note": idle_cache_note(4, idle_cache_reason(CacheSpec("teacache", 0.15), 4, 0))}}
    assert "cache: reused none of its 4 steps" in card_html(report, None, 1.0, False, 0.1)
