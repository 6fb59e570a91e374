"""The compare page in a real headless Chromium (Debian's chromium, driven by Playwright): run, look, check.

Screenshots go to $STUDIO_SCREENSHOTS (a folder) when set; the README's screenshot comes from here.
"""

from __future__ import annotations

import re

import pytest

from studio.presets import load_preset
from tests.fixtures.browser import CHROMIUM, open_page, screenshot_if_asked

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def page(studio_server):
    with open_page(studio_server) as page:
        yield page


def _set_prompt(page, text: str) -> None:
    box = page.get_by_label("Prompt", exact=True)
    box.fill(text)
    box.press("Tab")


def test_image_compare_shows_grid_and_readouts(page):
    sync_api.expect(page.get_by_text("Prompt language:")).to_be_visible(timeout=60_000)
    box = page.get_by_label("Prompt", exact=True)
    box.fill("a large yellow circle at the top left and a small blue square at the bottom right")
    box.press("Enter")  # runs it, as Generate does (the video test clicks Generate)
    status = page.locator(".status").first
    sync_api.expect(status).not_to_contain_text("Ready", timeout=10_000)
    assert "\n" not in box.input_value()
    sync_api.expect(status).to_contain_text("Done", timeout=240_000)
    cards = page.locator("#result-grid .card")
    ticked = load_preset("tiny-image").default_variants  # what the page selects at first
    assert cards.count() == len(ticked) and "distilled" in ticked
    assert page.locator("#result-grid .card img.media").count() == len(ticked)
    text = page.locator("#result-grid").inner_text()
    assert re.search(r"end-to-end\s+\d+\.\d{3}\s+s", text) and "LPIPS" in text and "$ / 1k gen" in text
    assert re.search(r"×\d+\.\d\d", text)  # a measured speedup
    page.get_by_label("A/B: this variant (right)").click()
    page.get_by_role("option").first.click()
    page.wait_for_timeout(1500)
    # an image preset hides the video-only panels (side-by-side clip, per-frame chart)
    assert not page.get_by_text("Videos side by side").is_visible()
    assert not page.get_by_text("Per-frame difference vs baseline").is_visible()
    lines = page.evaluate("""() => [...document.querySelectorAll('span.header.text')].map(s => {
        const r = document.createRange();
        r.selectNodeContents(s);
        return [s.innerText.trim(), r.getClientRects().length];
    })""")
    assert dict(lines)["steps"] == 1 and dict(lines)["weights MB"] <= 2, lines  # broken between words, not inside
    screenshot_if_asked(page, "STUDIO_SCREENSHOTS", "compare-image.png")


def test_generate_is_in_view_on_a_laptop_screen(page):
    # it sat below every setting, under the fold of a 1280x800 screen; it is under the prompt now
    page.set_viewport_size({"width": 1280, "height": 800})
    try:
        page.evaluate("window.scrollTo(0, 0)")
        box = page.get_by_role("button", name="Generate").bounding_box()
        cancel = page.get_by_role("button", name="Cancel").bounding_box()
        assert box["y"] + box["height"] <= 800 and abs(cancel["y"] - box["y"]) < 2, (box, cancel)  # one row
    finally:
        page.set_viewport_size({"width": 1500, "height": 1100})


def test_unknown_word_is_flagged_before_running(page):
    _set_prompt(page, "a pink elephant at the left")
    sync_api.expect(page.locator(".unknown")).to_contain_text("pink", timeout=30_000)
    page.get_by_label("Prompt", exact=True).press("Enter")  # the status says why it does not run, not "Done…"
    sync_api.expect(page.locator(".status").first).to_contain_text("Not run: prompt: unknown word(s) 'pink'",
                                                                   timeout=10_000)
    toast = page.locator(".toast-close")  # the run's own refusal, as a toast too: closed, not left over the page
    sync_api.expect(toast.first).to_be_visible(timeout=10_000)
    toast.first.click()
    sync_api.expect(toast).to_have_count(0, timeout=10_000)


def test_video_compare_plays_side_by_side(page):
    from studio.tiny.language import EXAMPLE_IMAGE_PROMPTS, EXAMPLE_VIDEO_PROMPTS

    sync_api.expect(page.get_by_text(EXAMPLE_IMAGE_PROMPTS[1], exact=True)).to_be_visible()
    page.get_by_label("Model preset").click()
    page.get_by_role("option", name=re.compile("video", re.I)).first.click()
    sync_api.expect(page.get_by_text(re.compile(r"· video ·"))).to_be_visible(timeout=30_000)
    # the examples are the preset's own: a video prompt on the image model is refused (motions are video-only)
    sync_api.expect(page.get_by_text(EXAMPLE_VIDEO_PROMPTS[1], exact=True)).to_be_visible(timeout=10_000)
    assert not page.get_by_text(EXAMPLE_IMAGE_PROMPTS[1], exact=True).is_visible()
    _set_prompt(page, EXAMPLE_VIDEO_PROMPTS[1])  # one the baseline draws right: this run is the README's screenshot
    page.get_by_role("button", name="Generate").click()
    # the previous run's status also says Done: wait for this run's clips (animated GIFs) in every card
    clips = len(load_preset("tiny-video").default_variants)
    page.wait_for_function("() => document.querySelectorAll('#result-grid img[src^=\"data:image/gif\"]').length == "
                           f"{clips}"
                           " && document.querySelector('.status').innerText.includes('Done')", timeout=300_000)
    video = page.locator("video").first
    sync_api.expect(video).to_be_visible(timeout=60_000)
    player = video.locator("xpath=ancestor::div[contains(@class,'block')][1]")
    badge = player.get_by_test_id("block-label")  # it once covered the first clips' names; now for screen readers
    assert badge.count() == 0 or (badge.bounding_box() or {"height": 0})["height"] < 4
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.currentTime > 0.2; }",
                           timeout=30_000)
    assert page.locator("#result-grid .card img.media").count() >= 2  # each clip also plays in its card
    sync_api.expect(page.get_by_text("Per-frame difference vs baseline")).to_be_visible()
    chart = page.get_by_text("Per-frame difference vs baseline").locator(
        "xpath=ancestor::div[contains(@class,'block')][1]")
    for name in load_preset("tiny-video").default_variants[1:]:  # every variant's series, not only the first to finish
        sync_api.expect(chart.get_by_text(f"{name} (LPIPS)")).to_be_visible(timeout=10_000)
    screenshot_if_asked(page, "STUDIO_SCREENSHOTS", "compare-video.png")


def test_a_reload_keeps_this_browsers_comparisons(page):
    # after the runs above: the page forgets its results on reload, the browser remembers where they are kept.
    # The browser stores a run's name just after the run (a reload in that instant forgets it): wait for the sign
    # a user sees, the run listed under "Your earlier comparisons", as a busy machine may take a while
    page.get_by_text("Your earlier comparisons (this browser)").click()
    page.get_by_label("Finished here, newest first (kept on the server)").click()
    sync_api.expect(page.get_by_role("option")).to_have_count(2, timeout=60_000)
    page.keyboard.press("Escape")
    page.reload()
    sync_api.expect(page.get_by_text("Prompt language:")).to_be_visible(timeout=60_000)
    page.get_by_text("Your earlier comparisons (this browser)").click()
    page.get_by_label("Finished here, newest first (kept on the server)").click()
    options = page.get_by_role("option")
    sync_api.expect(options).to_have_count(2, timeout=10_000)  # the video run, then the image run
    assert "tiny-video" in options.nth(0).inner_text() and "tiny-image" in options.nth(1).inner_text()
    options.nth(1).click()
    page.get_by_role("button", name="Open", exact=True).click()
    sync_api.expect(page.locator(".status").first).to_contain_text("Opened your comparison of", timeout=30_000)
    ticked = load_preset("tiny-image").default_variants
    sync_api.expect(page.locator("#result-grid .card img.media")).to_have_count(len(ticked), timeout=30_000)
