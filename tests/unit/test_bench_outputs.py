"""Bench outputs without a model: PNG metadata, the results store, sweeps, grid, snippet, CSV/JSON/HTML exports."""

import ast
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.bench.media import load_output, read_parameters, save_with_parameters, to_8bit
from studio.bench.outputs import write_outputs
from studio.bench.plan import PlanError, plan_variants
from studio.bench.snippet import TORCHAO_CONFIGS, reproduction_snippet
from studio.bench.store import ResultStore, StoreError, read_rows
from studio.bench.sweep import SweepError, expand_sweep, parse_sweep
from studio.engine.runner import VariantResult
from studio.presets import load_preset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def preset():
    return load_preset("tiny-image")


def _result(name, output):
    return VariantResult(slug=name, name=name, kind="cached", recipe={}, steps=4, output=output)


def test_png_metadata_round_trip(tmp_path):
    output = to_8bit(np.random.default_rng(0).random((64, 64, 3), dtype=np.float32))
    params = {"prompt": "a red circle — ünïcode", "seed": 2**40, "slug": "tea0.15", "recipe": {"steps": None}}
    paths = save_with_parameters(_result("teacache", output), tmp_path, params)
    assert read_parameters(paths[0]) == params
    with Image.open(paths[0]) as im:
        assert im.text["Description"] == params["prompt"] and "Speed-Up Studio" in im.text["Software"]
    rel = [str(Path(p).relative_to(tmp_path)) for p in paths]
    np.testing.assert_array_equal(load_output(rel, tmp_path, 64), output)  # lossless: resumes measure the same


def test_video_output_reloads_from_its_frame_strip(tmp_path):
    frames = to_8bit(np.random.default_rng(1).random((8, 16, 16, 3), dtype=np.float32))
    paths = save_with_parameters(_result("v", frames), tmp_path, {"prompt": "p"})
    assert [Path(p).suffix for p in paths] == [".mp4", ".png"] and read_parameters(paths[1])["prompt"] == "p"
    rel = [str(Path(p).relative_to(tmp_path)) for p in paths]
    np.testing.assert_array_equal(load_output(rel, tmp_path, 16), frames)


def test_store_cuts_a_torn_tail_and_never_duplicates(tmp_path):
    path = tmp_path / "bench.jsonl"
    with ResultStore(path) as store:
        store.append({"prompt_index": 0, "slug": "base", "v": 1})
        store.append({"prompt_index": 0, "slug": "s4", "v": 2})
    with open(path, "ab") as f:  # a run killed in the middle of writing its third row
        f.write(b'{"prompt_index": 1, "slug": "ba')
    assert len(read_rows(path)) == 2
    with ResultStore(path) as store:
        assert [r["v"] for r in store.rows()] == [1, 2]
        store.append({"prompt_index": 1, "slug": "base", "v": 3})
        store.append({"prompt_index": 0, "slug": "base", "v": 99})  # a duplicate key: the first one wins on read
        assert [r["v"] for r in store.rows()] == [1, 2, 3]
    assert path.read_bytes().count(b"\n") == 4 and path.read_bytes().endswith(b"\n")


def test_store_refuses_a_second_writer_and_a_corrupt_file(tmp_path):
    path = tmp_path / "bench.jsonl"
    with ResultStore(path):
        with pytest.raises(StoreError, match="another bench is writing"):
            ResultStore(path).__enter__()
    path.write_text('{"prompt_index": 0, "slug": "a"}\nnot json\n{"prompt_index": 1, "slug": "a"}\n')
    with pytest.raises(StoreError, match="line 2 is not valid JSON"):
        read_rows(path)


def test_sweep_parsing_and_expansion(preset):
    axis = parse_sweep("threshold=0.05, 0.1,0.1,0.2")
    assert axis.values == (0.05, 0.1, 0.2)
    plan = expand_sweep([preset.variant("teacache"), preset.variant("fbc")], [axis])
    assert [v.slug for v in plan.variants] == ["tea0.05", "tea0.1", "tea0.2", "fbc0.05", "fbc0.1", "fbc0.2"]
    assert plan.cells[("fbc", 0.1, None)].name == "fbc-t0.1"
    two = expand_sweep([preset.variant("teacache")], [axis, parse_sweep("quant=none,int8wo")])
    assert len(two.variants) == 6 and two.cells[("teacache", 0.2, "int8wo")].slug == "int8wo-tea0.2"
    steps, _ = plan_variants(preset, ["baseline"], ["steps=4,8"])
    assert [v.slug for v in steps] == ["base", "s4", "s8"]  # only the baseline listed: sweep a copy of it
    for bad, message in [("threshold", "write PARAMETER=V1,V2"), ("speed=1", "parameters: threshold, quant, steps"),
                         ("steps=0", "'0' is not allowed"), ("quant=int9", "'int9' is not allowed"),
                         ("threshold=" + ",".join(["0.1"] * 3 + [str(i / 100) for i in range(1, 9)]), "1 to 8")]:
        with pytest.raises(SweepError, match=message):
            parse_sweep(bad)
    with pytest.raises(SweepError, match="none of naive4 has a cache"):
        expand_sweep([preset.variant("naive4")], [axis])
    # the page's default choices mix cached and uncached variants: the threshold sweeps the cached ones and says so
    mixed = expand_sweep([preset.variant(n) for n in ("int8", "teacache", "naive4")], [axis])
    assert [v.slug for v in mixed.variants] == ["tea0.05", "tea0.1", "tea0.2"]
    assert mixed.left_out == ("int8", "naive4") and "left out (no cache): int8, naive4" in mixed.note()
    assert plan.note() == "" and two.note() == ""
    with pytest.raises(SweepError, match="different parameters"):
        expand_sweep([preset.variant("teacache")], [axis, axis])
    with pytest.raises(PlanError, match="at most two"):
        plan_variants(preset, ["teacache"], ["steps=4", "steps=5", "steps=6"])


def test_snippet_torchao_configs_match_the_engine():
    from studio.engine.quantization import _torchao_config

    for method, (imp, expr) in TORCHAO_CONFIGS.items():
        scope: dict = {}
        exec(imp, scope)  # noqa: S102 - our own constant import lines
        assert type(eval(expr, scope)) is type(_torchao_config(method)), method  # noqa: S307


def test_snippet_is_valid_python_for_stacked_and_real_presets(preset):
    from studio.variant import parse_slug

    stacked = parse_slug("int8wo-tea0.2-s20-compile", name="fast")
    text = reproduction_snippet(preset, stacked, "a red circle", 7, None, reason="fastest")
    ast.parse(text)
    assert "Int8WeightOnlyConfig()" in text and "CacheSpec('teacache', 0.2" in text and "STEPS = 20" in text
    assert "sigmas" not in text
    text = reproduction_snippet(preset, preset.variant("distilled2"), "a red circle", 7, None)
    assert 'kwargs["sigmas"] = [1.0, 0.5]' in text  # the student samples at its schedule's levels
    flux = load_preset("flux1-dev")
    text = reproduction_snippet(flux, flux.variant("baseline"), "a fox", 1, None)
    ast.parse(text)
    assert f"from diffusers import {flux.pipeline}" in text and "guidance_scale" in text
    lora = next(v for v in flux.variants.values() if v.weights.source == "lora")
    text = reproduction_snippet(flux, lora, "a fox", 1, None)
    ast.parse(text)  # the LoRA is switched on at the preset's scale, as the engine does before each run
    assert "set_lora_active(pipe, weights)" in text and f"{lora.weights.lora_scale!r}, None)" in text


def _synthetic_bench(tmp_path, preset):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(3):
        for name, kind, t, lp in [("baseline", "baseline", 1.0, 0.0), ("teacache", "cached", 0.5, 0.05 * (i + 1)),
                                  ("naive4", "naive", 0.1, 0.3)]:
            slug = preset.variant(name).slug
            media = f"media/p{i:05d}/{name}.png"
            (tmp_path / media).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(tmp_path / media)
            rows.append({"preset": "tiny-image", "device": "cpu", "threads": 1, "prompt_index": i,
                         "prompt": f"a red <circle> {i}", "seed": 10 + i, "variant": name, "slug": slug, "kind": kind,
                         "steps": 4 if name == "naive4" else 50, "latency_s": t + 0.01 * i, "peak_bytes": 10**8,
                         "weights_bytes": 2 * 10**7, "computed_steps": 50, "lpips": lp,
                         "psnr": "inf" if lp == 0 else 30.0, "ssim": 0.9, "adherence": 1.0, "fidelity": 0.7,
                         "media": [media], "error": None})
    variants = [preset.variant(n) for n in ("baseline", "teacache", "naive4")]
    return rows, variants


def test_write_outputs_makes_every_file_and_a_self_contained_report(tmp_path, preset):
    rows, variants = _synthetic_bench(tmp_path, preset)
    summary = write_outputs(tmp_path, preset, rows, variants, budget=(0.15, 0.2), gpu_price=1.0, command="cmd")
    for name in ("summary.json", "summary.csv", "results.csv", "report.html", "recommended.py", "grid.png",
                 "pareto.png"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["recommendation"]["variant"] == "teacache"  # mean 0.1 <= 0.15, p95 0.145 <= 0.2; naive4 over
    assert saved["variants"]["baseline"]["psnr_median"] == "inf" and saved["pareto_front"] == summary["pareto_front"]
    with open(tmp_path / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == ["baseline", "teacache", "naive4"]
    assert float(table[1]["speedup"]) == pytest.approx(1.01 / 0.51) and float(table[1]["cost_per_1000"]) > 0
    # every prompt right for both: no difference, paired, and none for the baseline against itself
    assert [table[1][f"adherence_vs_baseline_{k}"] for k in ("points", "ci_low", "ci_high")] == ["0.0"] * 3
    assert table[0]["adherence_vs_baseline_points"] == ""
    with open(tmp_path / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 9

    page = (tmp_path / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert 'id="pareto"' in page and 'id="recommendation"' in page and "teacache is the fastest" in page
    assert "adherence vs baseline, points [95% CI]" in page and "<td>+0.0 [+0.0, +0.0]</td>" in page
    from studio.ui.bench_tab import TABLE_HEADERS, summary_table  # the Benchmark tab's table: the same column

    tab = summary_table(summary)
    assert all(len(row) == len(TABLE_HEADERS) for row in tab)
    column = TABLE_HEADERS.index("adherence vs baseline, points [95% CI]")
    assert [row[column] for row in tab] == ["–", "+0.0 [+0.0, +0.0]", "+0.0 [+0.0, +0.0]"]
    assert "a red &lt;circle&gt; 0" in page and "<circle>" not in page  # prompts are escaped
    assert page.count('class="pair"') == 2 * 3  # worst-3 pairs for each of the two non-baseline variants
    ast.parse((tmp_path / "recommended.py").read_text())
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.width > 3 * 128 and grid.height > 3 * 128


def test_a_device_without_a_price_still_gets_every_file(tmp_path, preset):
    rows, variants = _synthetic_bench(tmp_path, preset)
    rows = [{**r, "device": "NVIDIA GeForce RTX 4090"} for r in rows]
    write_outputs(tmp_path, preset, rows, variants, budget=(0.15, 0.2))
    assert "Costs left blank: no default price for device" in (tmp_path / "report.html").read_text()
    with open(tmp_path / "summary.csv") as f:
        assert all(r["cost_per_1000"] == "" for r in csv.DictReader(f))


def test_bench_layer_never_imports_gradio():
    for path in (ROOT / "studio" / "bench").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert "gradio" not in names, path.name
