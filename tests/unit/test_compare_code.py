"""recommended.py from a comparison: the starred variant's code, at the comparison's prompt, seed, steps and size."""

import pytest

from studio.ui.compare_code import recommended_code, write_recommended_code


def _report(**changes):
    variants = [
        {"name": "baseline", "slug": "base", "kind": "baseline", "steps": 50, "speedup": 1.0, "error": None,
         "metrics": {}},
        {"name": "teacache", "slug": "tea0.1", "kind": "cached", "steps": 50, "speedup": 2.1, "error": None,
         "metrics": {"lpips": 0.01}},
        {"name": "naive4", "slug": "s4-uniform", "kind": "naive", "steps": 4, "speedup": 11.0, "error": None,
         "metrics": {"lpips": 0.06}},
        {"name": "int8wo-tea0.2", "slug": "int8wo-tea0.2", "kind": "stacked", "steps": 50, "speedup": 0.9,
         "error": "RuntimeError: out of memory", "metrics": {}},
    ]
    return {"preset": "tiny-image", "prompt": "a red circle at the left", "seed": 7, "size": "96x64",
            "variants": variants, **changes}


def test_the_starred_variant_at_the_comparisons_settings():
    name, code = recommended_code(_report(), lpips_budget=0.1)
    assert name == "naive4"  # the fastest within LPIPS 0.1
    assert "PROMPT = 'a red circle at the left'" in code and "SEED = 7" in code and "STEPS = 4" in code
    assert '"height": 64, "width": 96' in code and "chosen by `python -m studio compare`" in code
    assert "kwargs[\"sigmas\"]" in code  # naive4 samples at the uniform levels
    compile(code, "recommended.py", "exec")


def test_a_tighter_budget_stars_another_and_none_within_it_gives_the_baseline():
    assert recommended_code(_report(), lpips_budget=0.05)[0] == "teacache"
    name, code = recommended_code(_report(), lpips_budget=0.001)
    assert name == "baseline" and "no variant was within LPIPS ≤ 0.001" in code and "STEPS = 50" in code


def test_a_variant_named_must_have_run():
    assert recommended_code(_report(), 0.1, "teacache")[0] == "teacache"
    with pytest.raises(ValueError, match="'distilled' is not in this comparison; it ran: baseline, teacache"):
        recommended_code(_report(), 0.1, "distilled")
    with pytest.raises(ValueError, match="'int8wo-tea0.2' failed in this comparison"):
        recommended_code(_report(), 0.1, "int8wo-tea0.2")


def test_nothing_to_deploy_writes_no_file(tmp_path):
    report = _report()
    for v in report["variants"]:
        v["error"] = "RuntimeError: boom"
    assert write_recommended_code(tmp_path, report, 0.1) is None and not (tmp_path / "recommended.py").exists()
    assert write_recommended_code(tmp_path, _report(), 0.1)[0] == "naive4"
