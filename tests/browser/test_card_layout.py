"""The readout cards' CSS in Chromium, on a static page: how many cards share a row at the widths users have."""

import pytest

from studio.ui.readouts import CSS, card_html, grid_html
from tests.fixtures.browser import ARGS, CHROMIUM

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

REPORT = {"name": "distilled", "slug": "student-s4-uniform-g1", "kind": "distilled", "steps": 4, "speedup": 14.77,
          "timings": {"end_to_end_s": 0.065, "per_step_ms": 14.7}, "memory": {"peak_mb": 1117, "weights_mb": 20.49},
          "metrics": {"lpips": 0.0039, "psnr": 35.6, "ssim": 0.987}, "adherence": 1.0}
TINY_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
            "awAAAABJRU5ErkJggg==")


@pytest.mark.parametrize("viewport, grid_width, per_row", [
    (1280, 856, 5),  # a laptop: the result column of the Compare page measured 856 px; the five defaults in one row
    (390, 302, 2),  # a phone: two cards a row, not one narrow card beside empty space
])
def test_cards_per_row(viewport, grid_width, per_row):
    cards = [card_html({**REPORT, "name": f"v{i}"}, TINY_PNG, 1.0, False, 0.1) for i in range(5)]
    # a region card (590 px wide on a laptop) last: it must not spill out of a phone's column either
    cards = grid_html(cards + [card_html({**REPORT, "name": "region"}, TINY_PNG, 1.0, False, 0.1, TINY_PNG)])
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": viewport, "height": 900})
        # gradio's page sizes every box border-box
        page.set_content(f"<style>* {{box-sizing:border-box}} body {{margin:0}} {CSS}</style>"
                         f"<div style='width:{grid_width}px'>{cards}</div>")
        tops = page.evaluate("() => [...document.querySelectorAll('.card')].map(c => c.getBoundingClientRect().top)")
        right = page.evaluate("() => Math.max(...[...document.querySelectorAll('.card')].map(c => "
                              "c.getBoundingClientRect().right))")
        browser.close()
    assert tops[:5].count(tops[0]) == per_row, tops
    assert right <= grid_width + 1  # nothing spills out of the column
