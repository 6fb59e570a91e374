"""`calibrate-teacache` fits the rescale polynomial from the baseline as its variant runs: on tiny random FLUX and
Wan pipelines (Wan calls cond and uncond apart: each is compared with itself) and on the embedded model (guided)."""

from __future__ import annotations

import math

import pytest
import torch

from studio.cli import main
from studio.engine.calibrate import calibrate_teacache
from studio.engine.runner import Engine
from studio.presets import load_preset


def test_fit_over_every_step_pair(tiny_presets):
    flux, wan = tiny_presets["tiny-flux-test"], tiny_presets["tiny-wan-test"]
    coefficients, fit = calibrate_teacache(flux, count=2, degree=2)
    assert len(coefficients) == 3 and all(math.isfinite(c) for c in coefficients)
    assert fit["pairs"] == 2 * (flux.steps - 1) and fit["r2"] <= 1
    _, fit = calibrate_teacache(wan, count=2, degree=1)
    assert fit["pairs"] == 2 * 2 * (wan.steps - 1)  # cond and uncond series, each step to the next


def test_embedded_model_is_calibrated_as_its_baseline_runs():
    preset = load_preset("tiny-image")
    engine = Engine(preset)
    batches = []
    handle = engine.base_pipeline().transformer.register_forward_pre_hook(
        lambda module, args, kwargs: batches.append(kwargs["hidden_states"].shape[0]), with_kwargs=True)
    try:
        torch.set_num_threads(1)
        coefficients, fit = calibrate_teacache(preset, count=1, degree=1, engine=engine)
    finally:
        handle.remove()
    assert batches == [2] * preset.steps  # guided, as the baseline variant runs: prompt and empty prompt together
    assert fit["pairs"] == preset.steps - 1 and len(coefficients) == 2


def test_cli_prints_the_line_to_paste(capsys):
    torch.set_num_threads(1)
    assert main(["calibrate-teacache", "--preset", "tiny-image", "--prompts", "1", "--degree", "1"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("teacache_coefficients = ["))
    assert len(line.split("[")[1].rstrip("]").split(",")) == 2
    assert f"fit over {load_preset('tiny-image').steps - 1} step pairs" in out


def test_models_without_transformer_blocks_are_refused(tiny_presets, capsys):
    with pytest.raises(ValueError, match="needs transformer blocks; UNet2DConditionModel has none"):
        calibrate_teacache(tiny_presets["tiny-sdxl-test"], count=1)
    capsys.readouterr()  # the loading messages so far
    assert main(["calibrate-teacache", "--preset", "sdxl"]) == 2  # checked from the preset, before any download
    err = capsys.readouterr().err.strip()
    assert err == "error: TeaCache does not apply to preset 'sdxl' (its caches: none), so there is nothing to calibrate"


def test_a_gpu_preset_is_refused_on_a_cpu_machine_before_any_download(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for command in (["calibrate-teacache", "--preset", "flux1-dev"], ["overhead", "--preset", "flux1-dev"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: 'FLUX.1 [dev]") and "this machine has no CUDA GPU" in err
        assert err.count("\n") == 1  # one line, no traceback
