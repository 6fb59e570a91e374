"""A setup link in headless Chromium: it opens Compare filled in (the preset's own defaults must not overwrite it),
says what it left out, and "Link to this setup" gives back a link to the same inputs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.fixtures.browser import CHROMIUM, open_page, screenshot_if_asked

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

PROMPT = "a small blue square at the left moving right"


def _ticked(page) -> set[str]:
    from studio.presets import load_preset

    return {name for name in load_preset("tiny-video").variants
            if page.get_by_role("checkbox", name=name, exact=True).is_checked()}


def test_a_link_opens_compare_set_up_and_the_page_links_back(studio_server):
    query = urlencode({"preset": "tiny-video", "prompt": PROMPT, "seed": 5, "steps": "lots", "repeats": 2,
                       "variants": "baseline,distilled,tea0.2", "size": "96x64x16"})
    with open_page(f"{studio_server}?{query}") as page:
        sync_api.expect(page.get_by_text("Opened a shared setup")).to_be_visible(timeout=60_000)
        sync_api.expect(page.get_by_text("Left out of the link: steps: 'lots'")).to_be_visible()
        sync_api.expect(page.get_by_text("· video ·")).to_be_visible()  # the preset's description, not the image one
        sync_api.expect(page.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
        sync_api.expect(page.get_by_label("Seed")).to_have_value("5")
        sync_api.expect(page.get_by_label("Repeats (rounds, medians)")).to_have_value("2")
        sync_api.expect(page.get_by_label("Custom variants (slugs, comma-separated)")).to_have_value("tea0.2")
        sync_api.expect(page.get_by_label("Size (W×H, video W×H×frames)")).to_have_value("96x64x16")
        page.wait_for_timeout(1000)  # a late preset event would overwrite the link's variants here
        assert _ticked(page) == {"baseline", "distilled"}
        sync_api.expect(page.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
        page.get_by_role("button", name="Link to this setup").click()
        link = page.locator("a[href*='?preset=']").first
        sync_api.expect(link).to_be_visible(timeout=30_000)
        params = dict(parse_qsl(urlsplit(link.get_attribute("href")).query))
        assert params == {"preset": "tiny-video", "prompt": PROMPT, "seed": "5", "repeats": "2",
                          "variants": "baseline,distilled,tea0.2", "size": "96x64x16"}
        sync_api.expect(page.get_by_text("python -m studio compare --preset tiny-video")).to_be_visible()
        sync_api.expect(page.get_by_text("--size 96x64x16")).to_be_visible()
        screenshot_if_asked(page, "STUDIO_SCREENSHOTS", "setup-link.png")
        page.get_by_label("Seed").fill("6")  # the link shown no longer matches the inputs: it goes
        sync_api.expect(link).to_be_hidden(timeout=10_000)
