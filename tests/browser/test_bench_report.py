"""The bench's report.html in headless Chromium: the Pareto chart and every image load from the page itself,
and the recommendation is shown; no request leaves the page."""

import pytest

from studio.bench.outputs import write_outputs
from studio.presets import load_preset
from tests.fixtures.browser import ARGS, CHROMIUM
from tests.unit.test_bench_outputs import _synthetic_bench


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_shows_chart_and_recommendation_offline(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    preset = load_preset("tiny-image")
    rows, variants = _synthetic_bench(tmp_path, preset)
    write_outputs(tmp_path, preset, rows, variants, budget=(0.15, 0.2))
    report = tmp_path / "report.html"
    for media in tmp_path.glob("media/*/*.png"):  # the page must not need the media folder
        media.unlink()
    requests = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        chart = page.locator("#pareto")
        assert chart.is_visible()
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert chart.evaluate("i => i.naturalWidth") > 300
        assert "teacache is the fastest variant" in page.locator("#recommendation").inner_text()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
