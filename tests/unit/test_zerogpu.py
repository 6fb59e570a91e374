"""ZeroGPU decorator (pass-through off ZeroGPU, spaces.GPU on it) and the duration sizing."""

import math
import sys
from types import ModuleType

import pytest

import studio.deploy.zerogpu as zg
from studio.presets import load_preset
from studio.variant import CacheSpec, QuantSpec, Variant, WeightsSpec

FLUX = load_preset("flux1-dev")
BASE = Variant("baseline")


def _work(x, y=1):
    return x + y


@pytest.fixture
def fake_spaces(monkeypatch):
    """A stand-in `spaces` module that records the duration it was given and marks the wrapped function."""
    module = ModuleType("spaces")
    calls = []

    def gpu(duration):
        def wrap(fn):
            def wrapped(*args, **kwargs):
                calls.append(duration(*args, **kwargs))
                return fn(*args, **kwargs)

            return wrapped

        return wrap

    module.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", module)
    return calls


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("1", True), ("true", True)])
def test_on_zerogpu_reads_spaces_zero_gpu(value, expected):
    assert zg.on_zerogpu({"SPACES_ZERO_GPU": value}) is expected
    assert zg.on_zerogpu({}) is False


def test_pass_through_off_zerogpu_even_with_spaces_installed(monkeypatch, fake_spaces):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    decorated = zg.gpu_task(lambda *a, **k: 60)(_work)
    assert decorated is _work and decorated(2, y=3) == 5 and fake_spaces == []


def test_pass_through_on_zerogpu_without_the_spaces_package(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setitem(sys.modules, "spaces", None)  # makes `import spaces` raise ImportError
    assert zg.gpu_task(lambda *a, **k: 60)(_work) is _work


def test_on_zerogpu_the_duration_function_sees_the_call_arguments(monkeypatch, fake_spaces):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    decorated = zg.gpu_task(lambda x, y=1: 10 * x + y)(_work)
    assert decorated is not _work
    assert decorated(4, y=2) == 6
    assert fake_spaces == [42]


# ---------------------------------------------------------------- sizing


def test_estimate_follows_the_engine_run_plan():
    steps, repeats = FLUX.steps, 3
    per_step = zg.SECONDS_PER_STEP["flux"]
    expected = zg.BASE_SECONDS + per_step * (repeats * steps + zg.WARMUP_STEPS)
    assert zg.estimate_gpu_seconds(FLUX, [BASE], repeats=repeats) == pytest.approx(expected)
    no_warmup = zg.BASE_SECONDS + per_step * repeats * steps
    assert zg.estimate_gpu_seconds(FLUX, [BASE], repeats=repeats, warmup=False) == pytest.approx(no_warmup)


def test_more_steps_variants_repeats_and_pixels_cost_more():
    one = zg.estimate_gpu_seconds(FLUX, [BASE])
    assert zg.estimate_gpu_seconds(FLUX, [BASE], steps=50) > one > zg.estimate_gpu_seconds(FLUX, [BASE], steps=8)
    assert zg.estimate_gpu_seconds(FLUX, [BASE, Variant("naive4", steps=4)]) > one
    assert zg.estimate_gpu_seconds(FLUX, [BASE], repeats=3) > one
    assert zg.estimate_gpu_seconds(FLUX, [BASE], width=2048, height=2048) > 4 * (one - zg.BASE_SECONDS)
    assert zg.estimate_gpu_seconds(FLUX, [BASE], width=512, height=512) < one


def test_variant_features_add_their_one_time_costs():
    base = zg.estimate_gpu_seconds(FLUX, [BASE])
    quant = zg.estimate_gpu_seconds(FLUX, [Variant("q", quant=QuantSpec("int8wo"))])
    cached = zg.estimate_gpu_seconds(FLUX, [Variant("c", cache=CacheSpec("fbc", 0.1))])
    compiled = zg.estimate_gpu_seconds(FLUX, [Variant("k", compile=True)])
    distilled = zg.estimate_gpu_seconds(FLUX, [Variant("d", weights=WeightsSpec("distilled", "a/b"), steps=4)])
    assert quant == pytest.approx(base + zg.QUANTIZE_SECONDS)
    assert cached == pytest.approx(base)  # counted at full steps: skipped steps are unknown beforehand
    per_step = zg.SECONDS_PER_STEP["flux"]
    assert compiled == pytest.approx(base + zg.COMPILE_SECONDS + per_step * (FLUX.steps - zg.WARMUP_STEPS))
    assert distilled == pytest.approx(zg.BASE_SECONDS + zg.WEIGHTS_SECONDS + per_step * (4 + zg.WARMUP_STEPS))


def test_video_presets_are_sized_larger_than_the_embedded_model():
    tiny = load_preset("tiny-image")
    wan = load_preset("wan21-t2v-1.3b")
    assert zg.estimate_gpu_seconds(wan, [BASE]) > zg.estimate_gpu_seconds(FLUX, [BASE]) > \
        zg.estimate_gpu_seconds(tiny, [BASE])


def test_gpu_duration_applies_the_safety_factor_and_the_bounds():
    variants = [BASE, Variant("q", quant=QuantSpec("int8wo"))]
    estimate = zg.estimate_gpu_seconds(FLUX, variants)
    assert zg.gpu_duration(FLUX, variants) == max(zg.MIN_SECONDS, min(zg.MAX_SECONDS,
                                                                      math.ceil(estimate * zg.SAFETY)))
    assert zg.gpu_duration(load_preset("tiny-image"), [BASE]) == zg.MIN_SECONDS
    many = [Variant(f"v{i}", compile=True) for i in range(4)]
    assert zg.gpu_duration(FLUX, many, repeats=5) == zg.MAX_SECONDS
    assert isinstance(zg.gpu_duration(FLUX, variants, steps=20, repeats=2), int)


def test_the_bench_tab_refuses_on_zerogpu_instead_of_failing_midway(monkeypatch, tmp_path):
    import gradio as gr

    from studio.ui.bench_tab import make_run_handler

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    run = make_run_handler(None, tmp_path)("tiny-image", "Built-in set", "held-out", None, 2, 0, 0,
                                           ["baseline", "naive4"], "", "", 0.1, 0.2, 0)
    with pytest.raises(gr.Error, match="ZeroGPU lends one only while a single comparison runs"):
        next(run)
    assert not any(tmp_path.iterdir())  # nothing was started
