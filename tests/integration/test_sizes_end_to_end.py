"""A comparison at another size than the preset's, from the command line and through the page's API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main

gradio_client = pytest.importorskip("gradio_client")


def test_compare_at_a_size_of_your_own(tmp_path, one_torch_thread):
    out = tmp_path / "cmp"
    assert main(["compare", "--preset", "tiny-image", "--prompt", "a large red circle at the top left", "--steps",
                 "8", "--variants", "baseline,naive4", "--size", "96x64", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["size"] == "96x64"
    with Image.open(out / "baseline.png") as image:
        assert image.size == (96, 64)  # width x height
    naive = report["variants"][1]["metrics"]
    assert 0 < naive["lpips"] < 1 and "adherence" not in naive  # the checker scores the trained 64x64 only
    assert "--size 96x64" in (out / "report.html").read_text()


def test_recommended_py_reproduces_the_starred_variant(tmp_path, capsys):
    """compare --out writes recommended.py: run on its own, it draws the starred variant's picture again."""
    import subprocess
    import sys

    from studio.presets import REPO_ROOT

    out = tmp_path / "cmp"
    assert main(["compare", "--preset", "tiny-image", "--prompt", "a small blue square at the bottom right",
                 "--variants", "baseline,naive4,distilled", "--size", "96x64", "--out", str(out)]) == 0
    star = capsys.readouterr().out.split("recommended.py runs ")[1].split()[0]
    done = subprocess.run([sys.executable, "recommended.py"], cwd=out, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(out / "recommended.png") as again, Image.open(out / f"{star}.png") as shown:
        assert again.size == shown.size == (96, 64)
        difference = np.abs(np.asarray(again, np.float32) - np.asarray(shown, np.float32)).mean()
    assert star != "baseline" and difference < 2.0, (star, difference)  # 0-255: the same picture (decoder dtype aside)


def test_the_page_runs_a_video_at_the_size_asked_and_refuses_one_it_cannot(studio_server):
    client = gradio_client.Client(studio_server, verbose=False)
    status, _grid, _summary, report, _ab, video, _plot, _slider = client.predict(
        "tiny-video", "a red circle at the left moving right", 0, 8, ["baseline", "naive4"], "", 4.5, 0.1, 1,
        "80x48x16", api_name="/compare")
    assert "Done" in status and report["size"] == "80x48x16"
    import imageio.v3 as iio

    frames = iio.imread(Path(video["video"] if isinstance(video, dict) else video))
    assert frames.shape[0] == 16 and all(v["error"] is None for v in report["variants"])
    with pytest.raises(Exception, match="frames 40"):
        client.predict("tiny-video", "a red circle", 0, 8, ["baseline"], "", 4.5, 0.1, 1, "64x64x40",
                       api_name="/compare")
    # the API's earlier callers, who send no size, get the preset's
    *_, report, _ab, _video, _plot, _slider = client.predict(
        "tiny-image", "a red circle at the left", 0, 8, ["baseline"], "", 4.5, 0.1, 1, api_name="/compare")[:8]
    assert report["size"] == "64x64" and np.isfinite(report["variants"][0]["timings"]["end_to_end_s"])


def test_a_bench_at_a_size_of_your_own_resumes_only_at_that_size(tmp_path, capsys, one_torch_thread):
    out = tmp_path / "bench"
    argv = ["bench", "--preset", "tiny-image", "--variants", "baseline,naive4", "--count", "2", "--steps", "6",
            "--no-progress", "--out", str(out)]
    assert main([*argv, "--size", "96x64"]) == 0
    rows = [json.loads(line) for line in (out / "bench.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["size"] for r in rows} == {"96x64"}
    with Image.open(out / rows[0]["media"][0]) as image:
        assert image.size == (96, 64)
    assert '"height": 64, "width": 96' in (out / "recommended.py").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["size"] == "96x64" and "--size 96x64" in summary["command"]
    assert main([*argv, "--size", "96x64"]) == 0  # the same size: resumed, nothing to run
    assert "0 results run, 4 resumed" in capsys.readouterr().out
    assert main(argv) == 2  # the preset's own size would mix two sizes in one bench
    assert "holds a bench with --size 96x64" in capsys.readouterr().err


def test_a_bench_job_refuses_a_size_before_it_starts(tmp_path):
    from studio.bench.job import BenchJob, BenchRequest

    with pytest.raises(ValueError, match="width 100 not allowed"):
        BenchJob(BenchRequest("tiny-image", ["baseline"], count=1, size="100x64"), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_the_page_refuses_a_negative_prompt_its_pipeline_would_ignore(studio_server):
    client = gradio_client.Client(studio_server, verbose=False)
    with pytest.raises(Exception, match="preset 'tiny-image' \\(tiny\\) takes no negative prompt"):
        client.predict("tiny-image", "a red circle", 0, 8, ["baseline"], "", 4.5, 0.1, 1, "", "blurry",
                       api_name="/compare")
    info = client.predict("sdxl", api_name="/preset_info")
    assert info[-1]["visible"] is True  # the negative prompt box shows for SDXL (a GPU preset: not run here)
    assert client.predict("tiny-video", api_name="/preset_info")[-1]["visible"] is False
