"""Faults: a variant that runs out of memory mid-run fails alone; a cancelled run leaves the engine ready."""

import threading

import pytest
import torch

from studio.engine.caches import denoiser_of
from studio.engine.request import RunRequest
from studio.engine.runner import Engine
from studio.engine.stream import Done, Finished, stream_compare
from studio.locks import MODEL_BUILD_LOCK
from studio.presets import load_preset

REQUEST = RunRequest(prompt="a large red circle at the left", seed=1, steps=6, warmup=False)


@pytest.fixture(scope="module")
def engine():
    return Engine(load_preset("tiny-image"))


def _out_of_memory_on_third_call(module):
    calls = {"n": 0}

    def hook(*_):
        calls["n"] += 1
        if calls["n"] == 3:  # mid-run, after two denoising steps
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)")

    return module.register_forward_pre_hook(hook)


def _variants(engine, names):
    return [engine.preset.variants[n] for n in names]


def test_out_of_memory_in_one_variant_fails_only_that_card_and_frees_the_lane(engine):
    handle = _out_of_memory_on_third_call(denoiser_of(engine.pipeline_for(engine.preset.variants["int8"])))
    try:
        results = {r.name: r for r in engine.compare(REQUEST, _variants(engine, ["baseline", "int8", "naive4"]))}
    finally:
        handle.remove()
    assert "OutOfMemoryError" in results["int8"].error and "2.00 GiB" in results["int8"].error
    assert results["baseline"].error is None and results["naive4"].error is None
    assert results["naive4"].speedup is not None and results["naive4"].output is not None
    # The device lane and the model-build lock are free again: the same variant runs at once.
    assert not engine.lock.locked()
    assert MODEL_BUILD_LOCK.acquire(timeout=5)
    MODEL_BUILD_LOCK.release()
    again = engine.compare(REQUEST, _variants(engine, ["int8"]))
    assert all(r.error is None for r in again)


def test_streamed_run_reports_the_failure_and_the_next_stream_runs(engine):
    handle = _out_of_memory_on_third_call(denoiser_of(engine.pipeline_for(engine.preset.variants["int8"])))
    try:
        events = list(stream_compare(engine, REQUEST, _variants(engine, ["int8", "teacache"])))
    finally:
        handle.remove()
    finished = {e.result.name: e.result for e in events if isinstance(e, Finished)}
    assert "OutOfMemoryError" in finished["int8"].error and finished["teacache"].error is None
    assert isinstance(events[-1], Done) and not events[-1].cancelled
    follow_up = list(stream_compare(engine, REQUEST, _variants(engine, ["int8"])))
    assert all(e.result.error is None for e in follow_up if isinstance(e, Finished))


def test_cancel_mid_run_then_the_next_run_succeeds(engine):
    cancel = threading.Event()
    seen = []
    for event in stream_compare(engine, RunRequest(prompt="a small blue square", seed=2, steps=30, warmup=False),
                                _variants(engine, ["baseline", "teacache"]), cancel=cancel):
        seen.append(event)
        if not cancel.is_set() and type(event).__name__ == "Progress" and event.step >= 3:
            cancel.set()
    assert isinstance(seen[-1], Done) and seen[-1].cancelled
    assert not engine.lock.locked()
    after = list(stream_compare(engine, REQUEST, _variants(engine, ["baseline"])))
    assert isinstance(after[-1], Done) and not after[-1].cancelled
    assert all(e.result.error is None for e in after if isinstance(e, Finished))
