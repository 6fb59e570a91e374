"""The engine loads Hub presets through studio.hub: a tiny FluxPipeline served by a fake Hub at the HTTP boundary."""

from __future__ import annotations

import pytest
import torch

import studio.hub as hub
from studio.engine.loading import load_base_pipeline, load_weights_pipeline
from studio.hub import HubError
from studio.presets import parse_preset
from studio.variant import WeightsSpec
from tests.fixtures.fake_hub import FakeHub, serve

CPU = torch.device("cpu")


@pytest.fixture
def hub_env(monkeypatch, tmp_path, tiny_flux_path):
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "STUDIO_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "get_token", lambda: None)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    fake = FakeHub()
    # extra root-level checkpoint and pickle the engine must not fetch
    fake.add_folder("test-org/tiny-flux", tiny_flux_path, **{"flux-single-file.safetensors": b"x" * 1000,
                                                              "transformer/diffusion_pytorch_model.bin": b"p"})
    with serve(fake):
        yield fake


def _preset(source: str):
    return parse_preset({"title": "t", "family": "flux", "pipeline": "FluxPipeline", "source": source,
                         "revision": "main", "media": "image", "steps": 4, "width": 32, "height": 32}, "hub-test")


def test_base_pipeline_and_distilled_denoiser_come_from_the_hub(hub_env, monkeypatch):
    pipe = load_base_pipeline(_preset("test-org/tiny-flux"), CPU)
    assert type(pipe).__name__ == "FluxPipeline"
    fetched = hub_env.downloaded()
    assert "transformer/diffusion_pytorch_model.safetensors" in fetched
    assert "flux-single-file.safetensors" not in fetched and "transformer/diffusion_pytorch_model.bin" not in fetched

    hub_env.requests.clear()
    derived = load_weights_pipeline(pipe, WeightsSpec("distilled", "test-org/tiny-flux", "main"), CPU)
    assert derived.transformer is not pipe.transformer and derived.vae is pipe.vae
    assert hub_env.downloaded() == []  # the transformer files are cached from the base load

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline afterwards: served from the cache, no request at all
    hub_env.requests.clear()
    assert type(load_base_pipeline(_preset("test-org/tiny-flux"), CPU)).__name__ == "FluxPipeline"
    assert hub_env.requests == []


def test_missing_hub_model_fails_before_loading(hub_env):
    with pytest.raises(HubError, match="'test-org/absent' was not found on the Hub"):
        load_base_pipeline(_preset("test-org/absent"), CPU)
