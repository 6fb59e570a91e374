"""Offline perceptual metrics: LPIPS, PSNR, SSIM, heatmaps, video figures, JSON safety and the CLI."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.metrics import compare_media, difference_heatmap, json_safe, lpips_status
from studio.metrics.cli import main as cli_main
from studio.metrics.lpips_offline import LpipsUnavailable, get_lpips_model
from studio.metrics.safe_pickle import load_numpy_pickle
from studio.metrics.weights import convert_jax_checkpoint

REFERENCE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "lpips-reference"
LPIPS_READY = lpips_status()[0]
needs_lpips = pytest.mark.skipif(not LPIPS_READY, reason="LPIPS weights not prepared: python -m studio.metrics.prepare")


def scene(size: int = 64, seed: int = 0) -> np.ndarray:
    """A deterministic uint8 test image with edges and smooth gradients (noise-free, so noise is measurable)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 4 * y)], axis=-1)
    for _ in range(6):
        x0, y0, w = rng.integers(0, size - 8, 3)
        img[y0 : y0 + 8 + w % 16, x0 : x0 + 8 + w % 16] = rng.random(3)
    return (img * 255).round().astype(np.uint8)


def noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img / 255.0 + noise, 0, 1).astype(np.float32)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """Point both weight locations at empty folders, as on a fresh machine."""
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_identical_images_score_perfectly_and_serialize_to_strict_json():
    img = scene()
    result = compare_media(img, img.astype(np.float32) / 255.0)  # same image in both accepted dtypes
    assert result["psnr"] == float("inf")
    assert result["ssim"] == pytest.approx(1.0, abs=1e-9)
    if LPIPS_READY:
        assert result["lpips"] == 0.0 and result["lpips_error"] is None
    text = json.dumps(json_safe(result), allow_nan=False)
    decoded = json.loads(text)
    assert decoded["psnr"] == "inf"
    assert json_safe({"a": float("nan"), "b": np.float32(0.5), "c": (np.int64(3), -float("inf"))}) == {
        "a": None, "b": 0.5, "c": [3, "-inf"]}


def test_different_images_score_imperfectly():
    result = compare_media(scene(seed=0), Image.fromarray(scene(seed=3)))
    assert np.isfinite(result["psnr"]) and result["psnr"] < 40
    assert result["ssim"] < 0.99


@needs_lpips
def test_lpips_rises_with_noise():
    img = scene()
    values = [compare_media(img, noisy(img, s))["lpips"] for s in (0.01, 0.04, 0.1, 0.25)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values
    assert values[0] > 0


@needs_lpips
@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason="../shared reference images absent")
def test_lpips_matches_published_reference_values():
    # README there: images read as RGB and scaled to [-1, 1]; uint8 input is exactly that after to_float.
    ref, p0, p1 = (np.asarray(Image.open(REFERENCE_DIR / f).convert("RGB")) for f in ("ex_ref.png", "ex_p0.png",
                                                                                        "ex_p1.png"))
    assert round(compare_media(ref, p0)["lpips"], 3) == 0.722
    assert round(compare_media(ref, p1)["lpips"], 3) == 0.138


@needs_lpips
def test_lpips_model_loads_once_and_small_images_work():
    assert get_lpips_model() is get_lpips_model()
    small = scene(size=24)  # below AlexNet's minimum: upscaled to 64 internally
    result = compare_media(small, noisy(small, 0.1))
    assert result["lpips"] is not None and result["lpips"] > 0
    heat = difference_heatmap(small, noisy(small, 0.1), kind="lpips")
    assert heat.size == (24, 24)


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        load_numpy_pickle(pickle.dumps({"w": Evil()}))
    assert not marker.exists()
    # ... while numpy arrays still load, so the refusal above is selective, not blanket.
    loaded = load_numpy_pickle(pickle.dumps({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}))
    assert loaded["w"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_jax_kernels_are_transposed_to_torch_layout():
    rng = np.random.default_rng(0)
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    ckpt = {"AlexNet_0": {f"Conv_{i}": {"kernel": rng.random(s, dtype=np.float32),
                                        "bias": rng.random(s[-1], dtype=np.float32)} for i, s in enumerate(shapes)}}
    out = convert_jax_checkpoint(ckpt)
    kernel = ckpt["AlexNet_0"]["Conv_1"]["kernel"]
    assert tuple(out["features.3.weight"].shape) == (192, 64, 5, 5)
    assert out["features.3.weight"][7, 5, 1, 2].item() == kernel[1, 2, 5, 7]


def test_missing_weights_report_unavailable_but_other_metrics_work(no_weights):
    ready, message = lpips_status()
    assert not ready and "python -m studio.metrics.prepare" in message
    img = scene()
    result = compare_media(img, noisy(img, 0.05))
    assert result["lpips"] is None and "python -m studio.metrics.prepare" in result["lpips_error"]
    assert np.isfinite(result["psnr"]) and 0 < result["ssim"] < 1
    with pytest.raises(LpipsUnavailable):
        difference_heatmap(img, img, kind="lpips")


def test_video_per_frame_metrics_and_worst_frame():
    clip = np.stack([scene(seed=s) for s in range(4)])
    cand = clip.astype(np.float32) / 255.0
    cand[1] = noisy(clip[1], 0.03)
    cand[2] = noisy(clip[2], 0.3)  # the corrupted frame
    result = compare_media(clip, [Image.fromarray(f) for f in (cand * 255).round().astype(np.uint8)])
    for name in ("psnr", "ssim") + (("lpips",) if LPIPS_READY else ()):
        assert len(result["per_frame"][name]) == 4
    assert result["worst_frame"] == 2
    assert result["per_frame"]["psnr"][0] == float("inf")
    assert np.isfinite(result["psnr"])  # clip PSNR pools MSE, so one identical frame does not make it inf
    assert compare_media(clip, clip)["temporal_consistency"] == 0.0
    assert result["temporal_consistency"] > 0.01
    json.dumps(json_safe(result), allow_nan=False)


def test_video_without_lpips_judges_worst_frame_by_ssim(no_weights):
    clip = np.stack([scene(seed=s) for s in range(3)])
    cand = clip.astype(np.float32) / 255.0
    cand[0] = noisy(clip[0], 0.3)
    result = compare_media(clip, cand)
    assert result["per_frame"]["lpips"] is None
    assert (result["worst_frame"], result["worst_frame_metric"]) == (0, "ssim")


def test_mismatched_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="same frame count and size"):
        compare_media(scene(64), scene(32))
    with pytest.raises(ValueError, match="both must be images or both videos"):
        compare_media(scene(), np.stack([scene(), scene()]))
    with pytest.raises(ValueError, match=r"expected \[0, 1\]"):
        compare_media(scene() * 2.0, scene())


def test_abs_heatmap_matches_input_size_and_marks_the_difference():
    img = scene(size=48)
    cand = img.copy()
    cand[:, 24:] = 255 - cand[:, 24:]  # only the right half differs
    heat = np.asarray(difference_heatmap(img, cand, kind="abs"))
    assert heat.shape == (48, 48, 3)
    assert heat[:, :24].sum() == heat[0, 0].sum() * 48 * 24  # untouched half is uniformly the "no change" colour
    assert heat[:, 24:].mean() > heat[:, :24].mean()
    with pytest.raises(ValueError, match="kind must be one of"):
        difference_heatmap(img, cand, kind="ssim")


def test_cli_missing_file_returns_2_without_traceback(tmp_path, capsys):
    Image.fromarray(scene()).save(tmp_path / "a.png")
    assert cli_main([str(tmp_path / "a.png"), str(tmp_path / "missing.png")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_rejects_size_and_kind_mismatch(tmp_path, capsys):
    Image.fromarray(scene(64)).save(tmp_path / "a.png")
    Image.fromarray(scene(32)).save(tmp_path / "b.png")
    Image.fromarray(scene(64)).save(tmp_path / "c.gif")
    assert cli_main([str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == 2
    assert cli_main([str(tmp_path / "a.png"), str(tmp_path / "c.gif")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_json_output(tmp_path, capsys):
    img = scene()
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray((noisy(img, 0.05) * 255).round().astype(np.uint8)).save(tmp_path / "b.png")
    assert cli_main([str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"lpips", "psnr", "ssim", "lpips_error"}
    assert 10 < data["psnr"] < 40


def test_cli_compares_gif_videos(tmp_path, capsys):
    frames = [scene(seed=s) for s in range(3)]
    Image.fromarray(frames[0]).save(tmp_path / "a.gif", save_all=True, append_images=[Image.fromarray(f)
                                                                                       for f in frames[1:]])
    assert cli_main([str(tmp_path / "a.gif"), str(tmp_path / "a.gif")]) == 0
    out = capsys.readouterr().out
    assert "inf (identical)" in out and "frames      3" in out


@needs_lpips
def test_torchvision_hub_checkpoint_is_preferred(tmp_path, monkeypatch):
    import torch

    from studio.metrics.weights import find_alexnet_weights, load_alexnet_features

    img = scene()
    expected = compare_media(img, noisy(img, 0.1))["lpips"]
    # Same tensors saved the way torchvision caches them: the hub branch must give the same LPIPS.
    hub_file = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    hub_file.parent.mkdir(parents=True)
    torch.save(load_alexnet_features(find_alexnet_weights()), hub_file)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert find_alexnet_weights() == hub_file
    assert compare_media(img, noisy(img, 0.1))["lpips"] == pytest.approx(expected, abs=1e-6)


def test_the_page_says_why_lpips_is_missing(no_weights):
    from studio.ui.readouts import lpips_note

    img = scene()
    metrics = compare_media(img, noisy(img, 0.05))
    note = lpips_note([{"metrics": {}}, {"metrics": metrics}])  # the baseline has no LPIPS against itself
    assert "AlexNet weights are not prepared" in note and "python -m studio.metrics.prepare" in note
    assert lpips_note([{"metrics": {"lpips": 0.01, "lpips_error": None}}, {"metrics": {}}]) == ""


def test_two_sizes_are_refused_naming_both():
    from studio.metrics.inputs import to_pair

    with pytest.raises(ValueError, match=r"reference is an image of shape \(64, 64, 3\) but candidate is an image of "
                                         r"shape \(32, 32, 3\)"):
        to_pair(np.zeros((64, 64, 3)), np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match="candidate is a video of shape"):
        to_pair(np.zeros((64, 64, 3)), np.zeros((2, 64, 64, 3)))
