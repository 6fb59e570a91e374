"""The Benchmark tab in headless Chromium, run with the page's own defaults (only the prompt count lowered).

The API tests send hand-picked values; a browser sends what the fields hold, e.g. 0 for an untouched number
field. This test once failed there: "Steps must be … from 1 to 1000, got 0", and a $0 cost.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.browser import CHROMIUM, open_page, screenshot_if_asked
from tests.fixtures.studio_app import serve_bench_tab

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def bench_page(tmp_path_factory):
    demo, url = serve_bench_tab(tmp_path_factory.mktemp("bench-tab"))
    with open_page(url) as page:
        yield page
    demo.close()


def test_default_fields_run_and_cost_is_priced(bench_page):
    page = bench_page
    sync_api.expect(page.get_by_label("Prompts (first N)")).to_be_visible(timeout=60_000)
    assert page.get_by_label("Baseline steps").input_value() == "0"  # untouched: 0 is sent
    page.get_by_label("Prompts (first N)").fill("2")
    page.get_by_role("button", name="Run benchmark").click()
    sync_api.expect(page.get_by_text("Done:")).to_be_visible(timeout=240_000)
    header, *rows = page.locator("[role=row]").all_inner_texts()
    assert header.split()[:2] == ["variant", "slug"] and "$/1000" in header
    assert len(rows) == 5  # the tab's five default variants, baseline included
    for row in rows:
        cells = [c for c in row.split() if c != "★"]  # the recommended variant's name carries a star
        assert float(cells[6]) > 0, row  # $/1000, priced from the device table
    chart = page.locator("img[src*='pareto']").first
    sync_api.expect(chart).to_be_visible(timeout=30_000)
    block = chart.locator("xpath=ancestor::div[contains(@class,'block')][1]")
    badge = block.get_by_test_id("block-label")  # it once covered the chart's own title
    assert badge.count() == 0 or (badge.bounding_box() or {"height": 0})["height"] < 4
    screenshot_if_asked(page, "STUDIO_SCREENSHOTS", "bench-tab.png")


def test_run_is_in_view_on_a_laptop_screen(bench_page):
    page = bench_page
    page.set_viewport_size({"width": 1280, "height": 800})
    try:
        page.evaluate("window.scrollTo(0, 0)")
        run = page.get_by_role("button", name="Run benchmark").bounding_box()
        assert run["y"] + run["height"] <= 800, run  # it was below every setting (about 1,400 px down)
    finally:
        page.set_viewport_size({"width": 1500, "height": 1100})


def test_cancel_says_where_the_results_so_far_are(bench_page):
    page = bench_page
    page.get_by_role("button", name="Cancel").click()
    sync_api.expect(page.get_by_text("Nothing is running.")).to_be_visible(timeout=30_000)
    page.get_by_label("Prompts (first N)").fill("50")
    page.get_by_role("button", name="Run benchmark").click()
    # Gradio may coalesce streamed updates, so any count from 3 up will do (a CI run never showed "3 of").
    sync_api.expect(page.get_by_text(re.compile(r"Running: ([3-9]|\d\d+) of"))).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Cancel").click()
    status = page.get_by_text("Cancelled after the current result")
    sync_api.expect(status).to_be_visible(timeout=30_000)
    folder = Path(status.locator("code").inner_text())
    page.wait_for_timeout(5_000)  # the job writes its report once the current result is done
    rows = (folder / "bench.jsonl").read_text().splitlines()
    assert 3 <= len(rows) < 250 and (folder / "report.html").is_file()


def test_only_the_chosen_prompt_source_shows_its_field(bench_page):
    page = bench_page
    assert page.get_by_label("Model preset").input_value() == "Embedded image model (CPU, 64x64)"  # as on Compare
    upload, builtin = page.get_by_text("Drop File Here"), page.get_by_role("combobox", name="Built-in set")
    sync_api.expect(upload).to_be_hidden()
    sync_api.expect(builtin).to_be_visible()
    page.get_by_role("radio", name="Upload a file").check()
    sync_api.expect(upload).to_be_visible(timeout=10_000)
    sync_api.expect(builtin).to_be_hidden()
    typed = page.get_by_label("Prompts, one a line")
    sync_api.expect(typed).to_be_hidden()
    page.get_by_role("radio", name="Type them").check()
    sync_api.expect(typed).to_be_visible(timeout=10_000)
    sync_api.expect(upload).to_be_hidden()
    page.get_by_role("radio", name="Built-in set").check()
    sync_api.expect(upload).to_be_hidden(timeout=10_000)
    sync_api.expect(typed).to_be_hidden()
