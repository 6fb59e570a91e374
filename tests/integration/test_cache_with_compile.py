"""Step caches stacked with torch.compile: the cache applies through the compile wrapper and its statistics
(computed vs reused steps) are read from inside the compiled graph, matching the eager run step for step."""

import functools

import numpy as np
import pytest
import torch

from studio.engine.request import RunRequest
from studio.engine.runner import Engine
from studio.presets import load_preset


@pytest.fixture()
def engine(monkeypatch):
    # dynamo without inductor's C++ code generation: the same tracing (and the same hook rules), seconds faster
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    return Engine(load_preset("tiny-image"))


@pytest.mark.parametrize("cache", ["tea0.6", "fbc0.5"])
def test_cache_stacks_with_compile_and_counts_its_steps(engine, cache):
    preset = engine.preset
    request = RunRequest("a small blue square at the right", seed=1, steps=10, warmup=True)
    results = engine.compare(request, [preset.variant(cache), preset.variant(f"{cache}-compile")])
    eager, compiled = (next(r for r in results if r.slug == slug) for slug in (cache, f"{cache}-compile"))
    assert eager.error is None and compiled.error is None, compiled.error
    assert 0 < eager.cache["reused_steps"] < 10
    assert compiled.cache["timeline"] == eager.cache["timeline"]
    assert np.abs(compiled.output - eager.output).max() < 1e-3


def test_a_deep_copy_counts_its_own_calls():
    """Quantized variants are deep copies of the base denoiser: each copy's probe must count that copy's steps."""
    import copy

    from studio.engine.loading import load_base_pipeline
    from studio.engine.measure import computed_step_probe
    from studio.tiny.pipeline import predict_x0

    pipe = load_base_pipeline(load_preset("tiny-image"), torch.device("cpu"))
    base = pipe.transformer
    probe = computed_step_probe(base)
    twin = copy.deepcopy(base)
    twin_probe = computed_step_probe(twin)
    assert twin_probe is not probe
    tokens, pooled = pipe.encode_prompt(["a red circle"])
    with torch.inference_mode():
        predict_x0(twin, torch.randn(1, 32, 8, 8), torch.full((1,), 0.5), tokens, pooled)
    assert (probe.take(), twin_probe.take()) == (0, 1)
