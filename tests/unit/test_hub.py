"""studio.hub against a fake Hub at the HTTP boundary: what is downloaded, and every failure's message.

The real huggingface_hub code runs (model_info, auth_check, snapshot_download and its error classes); only its
HTTP transport is replaced (tests/fixtures/fake_hub.py), and the disk's free space where a test needs a full disk.
"""

import json
import shutil
from collections import namedtuple

import pytest
import requests

import studio.hub as hub
from studio.config import Settings
from studio.hub import LORA, PIPELINE, HubError, Needs, fetch, plan_download, select_files
from tests.fixtures.fake_hub import FakeHub, serve

MODEL_INDEX = json.dumps({"_class_name": "FluxPipeline", "_diffusers_version": "0.42.1",
                          "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
                          "transformer": ["diffusers", "FluxTransformer2DModel"],
                          "vae": ["diffusers", "AutoencoderKL"], "tokenizer": ["transformers", "CLIPTokenizer"],
                          "image_encoder": [None, None]}).encode()
PIPELINE_FILES = {
    "model_index.json": MODEL_INDEX,
    "scheduler/scheduler_config.json": b"{}",
    "transformer/config.json": b"{}",
    "transformer/diffusion_pytorch_model.safetensors": b"T" * 4000,
    "transformer/diffusion_pytorch_model.fp16.safetensors": b"H" * 2000,  # precision duplicate: skipped
    "transformer/diffusion_pytorch_model.bin": b"P" * 4000,  # pickle: never fetched
    "vae/config.json": b"{}",
    "vae/diffusion_pytorch_model.safetensors": b"V" * 500,
    "tokenizer/vocab.json": b"{}",
    "tokenizer/merges.txt": b"#",
    "flux1-dev.safetensors": b"S" * 9000,  # single-file checkpoint at the top: not what diffusers loads
    "image_encoder/model.safetensors": b"I" * 100,  # listed as [null, null]: not loaded
    "onnx/model.onnx": b"O" * 100,
    "README.md": b"# card",
}
NEEDED = sorted(["model_index.json", "scheduler/scheduler_config.json", "transformer/config.json",
                 "transformer/diffusion_pytorch_model.safetensors", "vae/config.json",
                 "vae/diffusion_pytorch_model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt"])


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(hub, "get_token", lambda: None)  # ignore a token saved on this machine by `hf auth login`
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    fake_hub = FakeHub()
    fake_hub.add("org/pipe", PIPELINE_FILES)
    with serve(fake_hub):
        yield fake_hub


def settings(tmp_path, **env):
    return Settings.from_env({"HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), **env})


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------- selection


def test_select_files_for_a_pipeline_takes_named_components_configs_and_plain_safetensors():
    assert select_files(PIPELINE_FILES, PIPELINE, json.loads(MODEL_INDEX)) == NEEDED


def test_select_files_keeps_precision_variants_where_there_is_nothing_else():
    names = ["unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors"]
    assert select_files(names, Needs("denoiser", "unet")) == names


def test_select_files_for_a_denoiser_and_a_lora():
    names = list(PIPELINE_FILES) + ["transformer/diffusion_pytorch_model.safetensors.index.fp16.json"]
    assert select_files(names, Needs("denoiser", "transformer")) == [
        "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors"]
    assert select_files(names, LORA) == ["flux1-dev.safetensors"]


def test_needs_validates_its_fields():
    with pytest.raises(ValueError, match="known: pipeline, denoiser, lora"):
        Needs("model")
    with pytest.raises(ValueError, match="subfolder"):
        Needs("denoiser")


# ---------------------------------------------------------------- downloads


def test_fetch_downloads_only_the_needed_files_and_then_serves_from_cache(fake, tmp_path):
    s = settings(tmp_path)
    plan = plan_download("org/pipe", "main", PIPELINE, s)
    assert [name for name, _ in plan.files] == NEEDED
    assert plan.total_bytes == sum(len(PIPELINE_FILES[n]) for n in NEEDED)
    # model_index.json (read to find the components) is cached already; the rest is still to download
    assert plan.missing_bytes == plan.total_bytes - len(MODEL_INDEX)
    messages = []
    folder = fetch("org/pipe", "main", PIPELINE, s, log=messages.append)
    assert _files(folder) == NEEDED
    assert (folder / "transformer/diffusion_pytorch_model.safetensors").read_bytes() == b"T" * 4000
    assert not {"flux1-dev.safetensors", "transformer/diffusion_pytorch_model.bin", "onnx/model.onnx"} & set(
        fake.downloaded())
    assert "downloading" in messages[0] and "org/pipe" in messages[0]

    assert plan_download("org/pipe", "main", PIPELINE, s).missing_bytes == 0
    fake.requests.clear()
    assert fetch("org/pipe", "main", PIPELINE, s) == folder
    assert [p for p in fake.downloaded() if p.endswith(".safetensors")] == []  # weights came from the cache


def test_fetch_a_denoiser_subfolder_only(fake, tmp_path):
    folder = fetch("org/pipe", None, Needs("denoiser", "transformer"), settings(tmp_path))
    assert _files(folder) == ["transformer/config.json", "transformer/diffusion_pytorch_model.safetensors"]


def test_offline_uses_the_cache_without_any_request(fake, tmp_path):
    folder = fetch("org/pipe", "main", PIPELINE, settings(tmp_path))
    fake.requests.clear()
    for env in ({"HF_HUB_OFFLINE": "1"}, {"STUDIO_OFFLINE": "1"}):
        assert fetch("org/pipe", "main", PIPELINE, settings(tmp_path, **env)) == folder
    assert fake.requests == []


def test_offline_and_not_cached_says_so(fake, tmp_path):
    with pytest.raises(HubError) as info:
        fetch("org/pipe", "main", PIPELINE, settings(tmp_path, HF_HUB_OFFLINE="1"))
    message = str(info.value)
    assert "'org/pipe'" in message and "not in the local Hugging Face cache" in message
    assert "offline mode is on" in message and str(tmp_path / "hub") in message
    assert fake.requests == []


# ---------------------------------------------------------------- failures before any large download


def _no_weights_fetched(fake):
    return not [p for p in fake.downloaded() if p.endswith(".safetensors")]


def test_gated_repo_without_token(fake, tmp_path):
    fake.add("org/gated", PIPELINE_FILES, gated=True, readers=("hf_reader",))
    with pytest.raises(HubError) as info:
        fetch("org/gated", "main", PIPELINE, settings(tmp_path))
    message = str(info.value)
    assert "gated" in message and "accept the licence at https://huggingface.co/org/gated" in message
    assert "HF_TOKEN" in message
    assert _no_weights_fetched(fake)


def test_gated_repo_with_a_token_that_has_no_access(fake, tmp_path):
    fake.add("org/gated", PIPELINE_FILES, gated=True, readers=("hf_reader",))
    fake.valid_tokens |= {"hf_reader", "hf_other"}
    with pytest.raises(HubError) as info:
        fetch("org/gated", "main", PIPELINE, settings(tmp_path, HF_TOKEN="hf_other"))
    assert "token in use has no access" in str(info.value) and "https://huggingface.co/org/gated" in str(info.value)
    assert "hf_other" not in str(info.value)
    assert _no_weights_fetched(fake)
    folder = fetch("org/gated", "main", PIPELINE, settings(tmp_path, HF_TOKEN="hf_reader"))
    assert _files(folder) == NEEDED


def test_invalid_token(fake, tmp_path):
    with pytest.raises(HubError) as info:
        fetch("org/pipe", "main", PIPELINE, settings(tmp_path, HF_TOKEN="hf_expired"))
    assert "refused the Hugging Face token (HTTP 401)" in str(info.value) and "hf_expired" not in str(info.value)


def test_missing_repo(fake, tmp_path):
    with pytest.raises(HubError) as info:
        fetch("org/nope", "main", PIPELINE, settings(tmp_path))
    message = str(info.value)
    assert "'org/nope' was not found on the Hub" in message and "HF_TOKEN" in message
    assert _no_weights_fetched(fake)


def test_missing_revision(fake, tmp_path):
    with pytest.raises(HubError) as info:
        fetch("org/pipe", "v9", PIPELINE, settings(tmp_path))
    assert "has no revision 'v9'" in str(info.value) and "https://huggingface.co/org/pipe/tree/main" in str(info.value)


def test_network_unreachable(fake, tmp_path):
    fake.down = True
    with pytest.raises(HubError) as info:
        fetch("org/pipe", "main", PIPELINE, settings(tmp_path))
    message = str(info.value)
    assert "cannot reach the Hugging Face Hub" in message and "ConnectError" in message
    assert "HF_HUB_OFFLINE=1" in message


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError("connection refused"),
                                   TimeoutError("timed out"), ConnectionError("reset")])
def test_network_errors_of_other_http_stacks_are_explained(fake, tmp_path, monkeypatch, error):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(hub.HfApi, "model_info", broken)
    with pytest.raises(HubError, match="cannot reach the Hugging Face Hub"):
        fetch("org/pipe", "main", PIPELINE, settings(tmp_path))


def test_network_lost_between_the_check_and_the_download(fake, tmp_path, monkeypatch):
    real = hub.check_disk

    def check_then_cut(plan, cache):
        real(plan, cache)
        fake.down = True

    monkeypatch.setattr(hub, "check_disk", check_then_cut)
    with pytest.raises(HubError, match="not in the local Hugging Face cache and the Hub is unreachable"):
        fetch("org/pipe", "main", PIPELINE, settings(tmp_path))


def test_not_enough_disk(fake, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 10**8, 10**8))
    monkeypatch.setattr(hub, "DISK_MARGIN_BYTES", 0)
    fake.add("org/big", {**PIPELINE_FILES, "transformer/diffusion_pytorch_model.safetensors": b"T" * 200})
    assert fetch("org/big", "main", PIPELINE, settings(tmp_path))  # 100 MB free is plenty for a few bytes
    monkeypatch.setattr(hub, "DISK_MARGIN_BYTES", 10**8)  # now the margin alone is more than is free
    fake.add("org/big2", PIPELINE_FILES)
    fake.requests.clear()
    with pytest.raises(HubError) as info:
        fetch("org/big2", "main", PIPELINE, settings(tmp_path))
    message = str(info.value)
    assert "not enough disk space for 'org/big2'" in message and "0.1 GB is free" in message
    assert str(tmp_path / "hub") in message and "HF_HUB_CACHE" in message
    assert _no_weights_fetched(fake)


def test_repo_without_a_pipeline_or_safetensors(fake, tmp_path):
    fake.add("org/bins", {"model_index.json": MODEL_INDEX, "transformer/diffusion_pytorch_model.bin": b"P"})
    fake.add("org/loose", {"config.json": b"{}", "model.safetensors": b"W"})
    with pytest.raises(HubError, match="no .safetensors weights in the folders its model_index.json names"):
        fetch("org/bins", "main", PIPELINE, settings(tmp_path))
    with pytest.raises(HubError, match="has no model_index.json, so it is not a diffusers pipeline"):
        fetch("org/loose", "main", PIPELINE, settings(tmp_path))
    with pytest.raises(HubError, match="no .safetensors weights at its top level"):
        fetch("org/bins", "main", LORA, settings(tmp_path))
