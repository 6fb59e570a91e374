"""`python -m studio doctor` on this machine (human and --json), plus a faked CUDA GPU and failure cases."""

import json
import shutil
from collections import namedtuple
from types import SimpleNamespace

import pytest
import torch

import studio.doctor as doctor
from studio.cli import main
from studio.engine.cpu_precision import cpu_has_native_bf16
from studio.engine.quantization import QUANT_METHODS
from studio.presets import load_preset
from studio.variant import CACHE_KINDS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "STUDIO_OFFLINE", "STUDIO_PORT", "STUDIO_DEFAULT_PRESET",
                 "GRADIO_SERVER_PORT", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)  # ignore a saved `hf auth login` here


def _json(capsys, *args):
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_json_report_on_this_machine(capsys):
    code, report = _json(capsys)
    assert code == (1 if report["status"] == "fail" else 0)
    assert report["preset"] == "tiny-image"
    hw = report["hardware"]
    assert hw["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert hw["cpu_cores"] >= 1 and hw["ram_gb"] > 0
    assert hw["cpu_native_bf16"] is cpu_has_native_bf16()
    assert set(report["quantizations"]) == set(QUANT_METHODS) - {"prequant"}
    assert report["quantizations"]["int8wo"]["runs"] is True
    if not torch.cuda.is_available():
        assert report["quantizations"]["fp8dqrow"]["runs"] is False
        assert "compute capability >= 8.9" in report["quantizations"]["fp8dqrow"]["reason"]
    assert set(report["caches"]) == set(CACHE_KINDS)
    assert report["caches"]["teacache"]["preset"] is True and report["caches"]["pab"]["preset"] is False
    assert report["packages"]["torch"]["version"].split("+")[0] == torch.__version__.split("+")[0]
    assert report["packages"]["diffusers"]["pinned"] == "0.42.1"
    assert report["hub"] == {"token_present": False, "token_source": None, "offline": False,
                             "hub_cache": report["settings"]["hub_cache"]}
    assert report["disk"]["download_gb"] == 0.0 and report["disk"]["free_gb"] > 0
    assert {c["section"] for c in report["checks"]} == set(doctor.SECTION_TITLES)


def test_human_checklist_on_this_machine(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    for title in doctor.SECTION_TITLES.values():
        assert f"\n{title}\n" in out
    assert "[ok]   int8wo" in out
    assert "[ok]   preset          tiny-image runs here" in out
    assert ("no usable CUDA GPU" in out) != torch.cuda.is_available()
    assert out.rstrip().splitlines()[-1].startswith("Result: ")


def test_token_presence_is_reported_but_never_the_token(capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_doctor_secret")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, report = _json(capsys)
    assert report["hub"]["token_present"] is True and report["hub"]["offline"] is True
    main(["doctor"])
    out = capsys.readouterr().out
    assert "present (from HF_TOKEN; not shown)" in out and "hf_doctor_secret" not in out
    assert "hf_doctor_secret" not in json.dumps(report)


def test_hub_preset_disk_check(capsys, monkeypatch):
    preset = load_preset("flux1-dev")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**13, 0, int(preset.download_gb * 2e9)))
    _, report = _json(capsys, "--preset", "flux1-dev")
    disk = [c for c in report["checks"] if c["section"] == "disk"][0]
    assert disk["status"] == "ok" and f"{preset.download_gb:.1f} GB" in disk["detail"]
    assert [c for c in report["checks"] if c["name"] == "token"][0]["status"] == "warn"  # a Hub preset, no token
    fit = [c for c in report["checks"] if c["name"] == "preset"][0]
    assert preset.requirements in fit["detail"]
    assert fit["status"] == ("info" if torch.cuda.is_available() else "warn")

    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**13, 0, int(5e9)))
    _, report = _json(capsys, "--preset", "flux1-dev")
    disk = [c for c in report["checks"] if c["section"] == "disk"][0]
    assert disk["status"] == "warn" and "only 5.0 GB free" in disk["detail"] and "HF_HUB_CACHE" in disk["detail"]
    assert report["status"] in ("warn", "fail")


def test_unknown_preset_is_a_usage_error(capsys):
    assert main(["doctor", "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown preset 'nope'" in err


def test_bad_environment_is_a_failed_check_not_a_crash(capsys, monkeypatch):
    monkeypatch.setenv("STUDIO_PORT", "http")
    code, report = _json(capsys)
    assert code == 1 and report["status"] == "fail"
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed[0]["name"] == "environment" and "STUDIO_PORT='http'" in failed[0]["detail"]


def test_a_data_folder_the_app_cannot_write_is_a_failed_check(capsys, monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "a-file" / "runs"))
    code, report = _json(capsys)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert code == 1 and [c["name"] for c in failed] == ["storage"]
    assert failed[0]["detail"].startswith("STUDIO_RUNS_DIR: cannot write in")


def test_lpips_not_ready_is_a_warning_with_the_fix(capsys, monkeypatch):
    monkeypatch.setattr("studio.metrics.lpips_status", lambda: (False, "LPIPS unavailable: run once: X"))
    _, report = _json(capsys)
    lpips = [c for c in report["checks"] if c["name"] == "lpips"][0]
    assert lpips["status"] == "warn" and "run once: X" in lpips["detail"] and "PSNR and SSIM" in lpips["detail"]


@pytest.mark.parametrize("capability, fp8, mxfp8", [((9, 0), True, False), ((8, 6), False, False),
                                                    ((10, 0), True, True)])
def test_a_cuda_gpu_is_described_and_decides_the_quantizations(capsys, monkeypatch, capability, fp8, mxfp8):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA Test GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(total_memory=80e9))
    _, report = _json(capsys)
    assert report["hardware"]["gpus"] == [{"index": 0, "name": "NVIDIA Test GPU",
                                           "compute_capability": f"{capability[0]}.{capability[1]}",
                                           "memory_gb": 80.0}]
    assert report["quantizations"]["fp8dqrow"]["runs"] is fp8
    assert report["quantizations"]["mxfp8"]["runs"] is mxfp8
    text = doctor.format_checklist(report)
    assert f"NVIDIA Test GPU, compute capability {capability[0]}.{capability[1]}, 80.0 GB" in text


@pytest.mark.parametrize("flag, words", [("1", "native bfloat16 (the embedded models decode in bfloat16)"),
                                         ("0", "no native bfloat16 (the embedded models decode in float32)")])
def test_the_cpu_line_says_how_the_embedded_models_decode(capsys, monkeypatch, flag, words):
    monkeypatch.setenv("STUDIO_CPU_BF16", flag)
    _, report = _json(capsys)
    assert report["hardware"]["cpu_native_bf16"] is (flag == "1")
    assert words in doctor.format_checklist(report)


def test_a_preset_of_yours_is_checked_for_what_it_is(capsys, monkeypatch, tmp_path):
    """A fine-tune on the Hub gives no download size; a local folder of FLUX weights still needs a GPU."""
    monkeypatch.setenv("STUDIO_PRESETS_DIR", str(tmp_path))
    (tmp_path / "our-flux.toml").write_text('extends = "flux1-dev"\nsource = "our-org/flux-ft"\n')
    (tmp_path / "our-local-flux.toml").write_text(f'extends = "flux1-dev"\nsource = "{tmp_path}"\n')
    _, report = _json(capsys, "--preset", "our-flux")
    disk = [c for c in report["checks"] if c["section"] == "disk"][0]
    assert disk["status"] == "info" and "download size not given" in disk["detail"]
    _, report = _json(capsys, "--preset", "our-local-flux")
    fit = [c for c in report["checks"] if c["name"] == "preset"][0]
    assert "runs here" not in fit["detail"] and fit["status"] == ("info" if torch.cuda.is_available() else "warn")
    assert [c for c in report["checks"] if c["section"] == "disk"][0]["detail"].startswith("nothing to download")
