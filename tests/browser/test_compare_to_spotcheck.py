"""From the Compare page to a rater's first blind pair, clicked through in headless Chromium.

The API test (tests/integration/test_compare_spotcheck.py) checks the session's content; this one checks that a
person can do it with the page: the accordion, its buttons, the link it prints, and the Spot-check tab it opens.
"""

from __future__ import annotations

import pytest

from studio.config import Settings
from studio.presets import load_preset
from tests.fixtures.browser import CHROMIUM, open_page, screenshot_if_asked
from tests.fixtures.studio_app import serve

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

DONE = "() => { const s = document.querySelector('.status'); return s && s.innerText.includes('Done'); }"
NOT_DONE = "() => { const s = document.querySelector('.status'); return s && !s.innerText.includes('Done'); }"


def _generate(page, prompt: str) -> None:
    box = page.get_by_label("Prompt", exact=True)
    box.fill(prompt)
    box.press("Tab")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function(NOT_DONE, timeout=60_000)  # this run's status, not the previous run's "Done"
    page.wait_for_function(DONE, timeout=240_000)


def test_collect_two_runs_create_a_session_and_rate_its_first_pair(tmp_path):
    demo, url = serve(Settings(cache_dir=tmp_path / "cache", spotcheck_db=tmp_path / "votes.sqlite3"))
    try:
        with open_page(url) as page:
            sync_api.expect(page.get_by_text("Prompt language:")).to_be_visible(timeout=60_000)
            page.get_by_label("Steps (0 = preset's)").fill("8")  # the page's wiring is under test, not quality
            page.get_by_text("Blind spot-check of these results").click()
            for prompt in ("a large red circle at the top left", "a green triangle"):
                _generate(page, prompt)
                page.get_by_role("button", name="Collect this comparison").click()
            sync_api.expect(page.get_by_text("2 comparisons collected")).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Create session").click()
            link = page.locator("a[href*='?spotcheck=']").first
            sync_api.expect(link).to_be_visible(timeout=30_000)
            page.goto(link.get_attribute("href"))
            sync_api.expect(page.get_by_role("tab", name="Spot-check")).to_have_attribute("aria-selected", "true",
                                                                                         timeout=60_000)
            page.get_by_label("Your name").fill("Ana")
            page.get_by_role("button", name="Start / resume").click()
            pairs = 2 * (len(load_preset("tiny-image").default_variants) - 1)  # each variant against the baseline
            sync_api.expect(page.get_by_text(f"Pair 1 of {pairs}")).to_be_visible(timeout=30_000)
            assert page.locator(".spotcheck-media img").count() == 2
            screenshot_if_asked(page, "STUDIO_SCREENSHOTS", "spotcheck-from-compare.png")
    finally:
        demo.close()
