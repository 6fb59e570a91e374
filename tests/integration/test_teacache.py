"""TeaCache on tiny random FLUX and Wan pipelines of the real classes and on the embedded model: nothing reused
means the baseline bit for bit; first and last steps always computed; a reused step runs no attention; state
resets between runs; removal restores the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline, WanPipeline

from studio.engine.loading import load_base_pipeline
from studio.engine.teacache import TeaCacheConfig, apply_teacache, remove_teacache
from studio.presets import load_preset

FLUX_KW = dict(height=32, width=32, max_sequence_length=16, guidance_scale=3.5)
WAN_KW = dict(height=16, width=16, num_frames=5, max_sequence_length=16, guidance_scale=5.0)
STEPS = 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipes(tiny_flux_path, tiny_wan_path):
    made = {"flux": (FluxPipeline.from_pretrained(tiny_flux_path), FLUX_KW),
            "wan": (WanPipeline.from_pretrained(tiny_wan_path), WAN_KW),
            "embedded": (load_base_pipeline(load_preset("tiny-image"), torch.device("cpu")),
                         dict(guidance_scale=4.5))}
    for pipe, _ in made.values():
        pipe.set_progress_bar_config(disable=True)
    return made


def _run(pipe, kwargs, prompt="a small red circle at the top left") -> np.ndarray:
    out = pipe(prompt, num_inference_steps=STEPS, output_type="np", generator=torch.Generator().manual_seed(0),
               **kwargs)
    return np.asarray(out.frames if hasattr(out, "frames") else out.images)


def _hooked(module: torch.nn.Module) -> int:
    registries = (getattr(m, "_diffusers_hook", None) for m in module.modules())
    return sum(1 for registry in registries if registry is not None and registry.hooks)


@pytest.mark.parametrize("name", ["flux", "wan", "embedded"])
def test_nothing_reused_is_the_baseline_and_removal_restores_it(pipes, name):
    pipe, kwargs = pipes[name]
    baseline = _run(pipe, kwargs)
    state = apply_teacache(pipe.transformer, TeaCacheConfig(threshold=0.0, num_inference_steps=STEPS))
    try:
        np.testing.assert_array_equal(_run(pipe, kwargs), baseline)
        with pipe.transformer.cache_context("cond"):
            assert state.get_state().decisions == []  # the run's 6 decisions were reset after it
    finally:
        remove_teacache(pipe.transformer)
    assert _hooked(pipe.transformer) == 0 and not hasattr(pipe.transformer, "_teacache_state")
    np.testing.assert_array_equal(_run(pipe, kwargs), baseline)


@pytest.mark.parametrize("name", ["flux", "wan", "embedded"])
def test_first_and_last_steps_computed_and_runs_repeat_exactly(pipes, name):
    pipe, kwargs = pipes[name]
    decisions = []

    def record(p, i, t, tensors):  # the hook's state for this run, read before the run's reset
        with p.transformer.cache_context("cond"):
            decisions.append(list(p.transformer._teacache_state.get_state().decisions))
        return {}

    apply_teacache(pipe.transformer, TeaCacheConfig(threshold=100.0, num_inference_steps=STEPS))
    try:
        first = _run(pipe, dict(kwargs, callback_on_step_end=record))
        timeline = decisions[-1]
        second = _run(pipe, dict(kwargs, callback_on_step_end=record))
    finally:
        remove_teacache(pipe.transformer)
    if name != "wan":  # Flux pipelines run cond (and the embedded one uncond) in one call per step
        assert timeline == [True] + [False] * (STEPS - 2) + [True]
    else:  # Wan's pipeline calls cond and uncond in their own contexts; "cond" saw every step
        assert timeline[0] and timeline[-1] and not any(timeline[1:-1])
    assert decisions[-1] == timeline  # state reset between runs: the same decisions again
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ["flux", "embedded"])
def test_a_reused_step_runs_no_attention_and_still_projects_its_output(pipes, name):
    pipe, kwargs = pipes[name]
    transformer = pipe.transformer
    blocks = [*transformer.transformer_blocks, *transformer.single_transformer_blocks]
    calls = {"attention": 0, "proj_out": 0}

    def counter(key):
        def hook(*_):
            calls[key] += 1
        return hook

    handles = [b.attn.to_q.register_forward_pre_hook(counter("attention")) for b in blocks]
    handles.append(transformer.proj_out.register_forward_pre_hook(counter("proj_out")))
    apply_teacache(transformer, TeaCacheConfig(threshold=100.0, num_inference_steps=STEPS))
    try:
        _run(pipe, kwargs)
    finally:
        remove_teacache(transformer)
        for h in handles:
            h.remove()
    assert calls == {"attention": 2 * len(blocks), "proj_out": STEPS}  # only the first and last steps computed
