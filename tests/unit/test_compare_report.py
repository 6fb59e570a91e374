"""A comparison as one self-contained HTML file: the page's verdict, cards (media inlined) and summary table."""

import numpy as np

from studio.bench.media import load_output
from studio.ui.compare_report import render_compare_html


def _variant(name, slug, kind, seconds, speedup, lpips):
    return {"name": name, "slug": slug, "kind": kind, "steps": 4 if kind != "baseline" else 50, "speedup": speedup,
            "timings": {"end_to_end_s": seconds, "per_step_ms": 10.0}, "memory": {"peak_bytes": 1e9},
            "metrics": {"lpips": lpips} if kind != "baseline" else {}, "cache": None, "error": None}


REPORT = {"preset": "tiny-image", "prompt": "a red <b>circle</b>", "seed": 3, "device": "cpu", "variants": [
    _variant("baseline", "base", "baseline", 1.0, 1.0, None),
    _variant("naive4", "s4-uniform", "naive", 0.1, 10.0, 0.06),
    _variant("distilled", "student-s4", "distilled", 0.07, 14.0, 0.004),
    {"name": "broken", "slug": "int4wo", "kind": "quantized", "steps": 50, "error": "int4 needs a GPU"},
]}


def test_the_page_has_the_verdict_cards_and_table_with_media_inlined():
    outputs = {"base": np.zeros((8, 8, 3)), "s4-uniform": np.ones((8, 8, 3)), "student-s4": np.zeros((4, 8, 8, 3))}
    page = render_compare_html(REPORT, outputs, price_per_hour=2.0, lpips_budget=0.05, repeats=3)
    assert page.startswith("<!doctype html>") and "http" not in page.split("</style>", 1)[1]  # nothing fetched
    assert "a red &lt;b&gt;circle&lt;/b&gt;" in page and "<b>circle" not in page  # the prompt is text
    assert "seed 3 · 3 repeats · LPIPS budget 0.05 · $2 per hour · cpu" in page
    assert "4 variants, 1 failed. Fastest within LPIPS ≤ 0.05: distilled, ×14.00" in page
    assert "At 4 steps, distilled against naive4 (the base model run for as few steps): LPIPS 0.004 against" in page
    assert page.count('src="data:image/png;base64,') == 2 and page.count('src="data:image/gif;base64,') == 1
    best = page.index("★ fastest within budget")
    assert page.rfind('<div class="card-title">', 0, best) == page.find('<div class="card-title">distilled')
    assert "failed: int4 needs a GPU" in page
    assert "<td>–</td><td>int4 needs a GPU</td></tr>" in page  # a failed variant computed no steps
    assert page.split("class='summary'")[1].count("<tr><td>") == 4  # a table row per variant
    again = ("Run it again: <code>python -m studio compare --preset tiny-image --prompt &#x27;a red &lt;b&gt;circle"
             "&lt;/b&gt;&#x27; --seed 3 --steps 50 --repeats 3 --variants baseline,naive4,distilled,broken</code>")
    assert again in page


def test_reading_media_back_skips_a_region_caches_overlay(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((4, 4, 3), 255, np.uint8)).save(tmp_path / "region.png")
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "region-regions.png")
    output = load_output(["region.png", "region-regions.png"], tmp_path, 4)
    assert output.shape == (4, 4, 3) and output.min() == 1.0
