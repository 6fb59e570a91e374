"""The compare page through gradio_client: full runs on the embedded models, bad input, queue order, cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client")

FAST = 8  # baseline steps for these runs: the page's behaviour, not the model's quality, is under test


@pytest.fixture(scope="module")
def client(studio_server):
    return gradio_client.Client(studio_server, verbose=False)


def _compare(client, preset="tiny-image", prompt="a large red circle at the left", seed=0, steps=FAST,
             variants=("baseline", "int8", "teacache", "naive4"), custom="", price=4.5, budget=0.1, repeats=1):
    return client.predict(preset, prompt, seed, steps, list(variants), custom, price, budget, repeats,
                          api_name="/compare")


def test_full_image_compare_streams_cards_table_and_report(client):
    status, grid, summary, report, _ab, _video, _plot, slider = _compare(client)
    assert slider is not None  # the A/B view opens on the first variant
    assert "Done" in status and "failed" not in status
    slugs = [v["slug"] for v in report["variants"]]
    assert slugs == ["base", "int8wo", "tea0.1", "s4-uniform"]
    assert all(v["error"] is None for v in report["variants"])
    assert grid.count('<div class="card ') == 4 and grid.count("<img") == 4
    by_slug = {v["slug"]: v for v in report["variants"]}
    assert by_slug["int8wo"]["memory"]["weights_bytes"] * 3.5 < by_slug["base"]["memory"]["weights_bytes"]
    for slug in ("int8wo", "tea0.1", "s4-uniform"):
        lpips = by_slug[slug]["metrics"]["lpips"]
        assert 0 <= lpips < 1, f"{slug}: LPIPS {lpips} out of range"
        assert f"{by_slug[slug]['timings']['end_to_end_s']:.3f}\u00a0s" in grid  # the card shows the measured time
    assert summary["headers"][0] == "variant" and len(summary["data"]) == 4


def test_the_ab_view_sets_a_variant_against_any_other(client, tmp_path):
    from PIL import Image

    _compare(client, variants=("baseline", "teacache", "naive4"))

    def halves(*args):
        left, right = client.predict(*args, api_name="/ab_view")
        return [np.asarray(Image.open(p["path"] if isinstance(p, dict) else p)) for p in (left, right)]

    naive4_on_the_right = halves("naive4", False, "baseline")[1]
    base_left, _ = halves("teacache", False)  # the reference defaults to the baseline, as before
    naive4_left, tea_right = halves("teacache", False, "naive4")  # distilled vs naive4 is this view's point
    assert np.array_equal(naive4_left, naive4_on_the_right) and not np.array_equal(naive4_left, base_left)
    assert np.array_equal(tea_right, halves("teacache", False)[1])
    with pytest.raises(gradio_client.exceptions.AppError, match="'int8' is not in the last comparison; it ran: "
                       "baseline, teacache, naive4"):
        client.predict("teacache", False, "int8", api_name="/ab_view")


def test_a_finished_comparison_is_kept_and_opens_again(client):
    report = _compare(client, variants=("baseline", "teacache", "naive4"))[3]
    name = report["kept_as"]  # written in the background: the page need not wait for a video's clips
    deadline = time.monotonic() + 30
    while True:
        try:
            status, grid, _summary, opened, *_rest, slider = client.predict(name, 4.5, 0.1, api_name="/compare_open")
            break
        except gradio_client.exceptions.AppError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert status.startswith("<div class=\"status\">Opened your comparison of ") and "3 variants." in status
    assert [v["slug"] for v in opened["variants"]] == [v["slug"] for v in report["variants"]]
    assert grid.count("<img class=\"media\"") == 3 and slider is not None  # media read back, A/B view open
    for bad, says in (("../../etc/passwd", "is not the name of a saved comparison"),
                      ("20260101-000000-tiny-image-x-0123abcd", "is no longer kept")):
        with pytest.raises(gradio_client.exceptions.AppError, match=says):
            client.predict(bad, 4.5, 0.1, api_name="/compare_open")


def test_video_compare_returns_one_side_by_side_clip_and_per_frame_chart(client):
    out = _compare(client, preset="tiny-video", prompt="a red circle at the left moving right",
                   variants=("baseline", "teacache", "naive4"))
    status, grid, _summary, report, _ab, video, plot, _slider = out
    assert "Done" in status and all(v["error"] is None for v in report["variants"])
    path = Path(video["video"] if isinstance(video, dict) else video)
    assert path.suffix == ".mp4" and path.stat().st_size > 1000
    import imageio.v3 as iio

    frames = iio.imread(path)
    assert frames.shape[0] == 8 and frames.shape[2] > 3 * 192  # three clips side by side
    variants_in_chart = {row[2].split(" (")[0] for row in plot["data"]}
    assert variants_in_chart == {"teacache", "naive4"}
    assert grid.count("image/gif") == 3


def test_region_cache_card_shows_where_it_recomputed(client):
    out = _compare(client, preset="tiny-video", prompt="a red circle at the left moving right", steps=14,
                   variants=("baseline", "region"))
    _status, grid, _summary, report, *_ = out
    region = next(v for v in report["variants"] if v["name"] == "region")
    assert region["error"] is None and "partial" in region["cache"]["region"]["modes"]
    assert grid.count("recomputed regions per step") == 1  # on the region card only
    assert grid.count("data:image/png;base64") == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": ""}, "prompt is empty"),
    ({"prompt": "a pink dragon"}, "unknown word"),
    ({"prompt": "x" * 10_000}, "at most 2000"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"steps": -3}, "steps"),
    ({"steps": 1_000_000}, "steps"),
    ({"preset": "../../etc/passwd"}, "not in the list of choices"),
    ({"preset": "/etc/passwd"}, "not in the list of choices"),
    ({"preset": "no-such-model"}, "not in the list of choices"),
    ({"custom": "tea9"}, "out of range"),
    ({"custom": "region0.2zz3"}, "unknown parameter tag"),
    ({"variants": ()}, "no variants"),
    ({"repeats": 9}, "greater than maximum value 5"),  # the page's own bound, before the handler's check
    ({"custom": "warp9"}, "warp9"),
    ({"preset": "flux1-dev", "prompt": "a fox"}, "no CUDA GPU"),
    # wrong types from an API caller fail in gradio's own input checks: the message names the field and the type
    ({"seed": "abc"}, "a `number` component"),
    ({"steps": "many"}, "a `number` component"),
])
def test_bad_input_gets_a_clear_message_and_the_next_request_runs(client, kwargs, message):
    with pytest.raises(gradio_client.exceptions.AppError) as err:
        _compare(client, **kwargs)
    assert message.lower() in str(err.value).lower()
    assert "Traceback" not in str(err.value)
    status, *_ = _compare(client, steps=2, variants=("naive4",))
    assert "Done" in status and "failed" not in status


def test_quantization_the_hardware_cannot_run_fails_only_its_card(client):
    status, grid, _summary, report, *_ = _compare(client, steps=2, variants=("naive4",), custom="fp8dqrow")
    by_slug = {v["slug"]: v for v in report["variants"]}
    assert by_slug["s4-uniform"]["error"] is None
    error = by_slug["fp8dqrow"]["error"]
    assert error and "CUDA" in error and "Traceback" not in error
    assert "failed" in status and "Traceback" not in grid


def test_unknown_words_are_flagged_before_running(client):
    flagged = client.predict("tiny-image", "a pink circle at the left", api_name="/check_prompt")
    assert "pink" in flagged
    assert "✓" in client.predict("tiny-image", "a red circle at the left", api_name="/check_prompt")


def test_variant_builder_appends_a_stack_slug(client):
    slug = client.predict("tiny-image", "base", "int8wo", "tea", 0.2, 6, "s4", api_name="/build_variant")
    assert slug == "s4, int8wo-tea0.2-s6"
    stack = client.predict("tiny-image", "student", "int8wo", "none", 0.2, 4, "", api_name="/build_variant")
    assert stack == "student-int8wo-s4"  # an API caller names the preset's weights without loading the page


def test_ten_concurrent_clients_are_served_in_queue_order(studio_server):
    jobs = []
    for i in range(10):  # submitted one after another: their queue order is their index
        c = gradio_client.Client(studio_server, verbose=False)
        jobs.append(c.submit("tiny-image", "a small blue square at the top right", i, 4, ["naive4"], "", 1.0, 0.1,
                             api_name="/compare"))
        time.sleep(0.05)
    reports = [job.result(timeout=600)[3] for job in jobs]
    assert all(v["error"] is None for r in reports for v in r["variants"])
    assert [r["seed"] for r in reports] == list(range(10))
    starts = [r["started_at"] for r in reports]
    assert starts == sorted(starts), "the GPU lane must take requests in the order they were queued"


def test_cancel_stops_a_run_and_the_next_run_succeeds(studio_server):
    c = gradio_client.Client(studio_server, verbose=False)
    job = c.submit("tiny-image", "a red circle at the left", 0, 400, ["baseline", "teacache", "int8"], "", 1.0, 0.1,
                   api_name="/compare")
    deadline = time.time() + 120
    while time.time() < deadline and not any("step" in str(o[0]) for o in job.outputs()):
        time.sleep(0.2)
    assert "Cancelling" in c.predict(api_name="/cancel")
    job.cancel()
    fresh = gradio_client.Client(studio_server, verbose=False)
    assert "Nothing is running" in fresh.predict(api_name="/cancel")  # its own session has no run
    status = _compare(fresh, variants=("naive4",))[0]
    assert "Done" in status


def test_model_loads_never_overlap(monkeypatch):
    """Regression: the warm-up thread and a request loading at once left models with uninitialised weights."""
    from studio.engine import runner
    from studio.locks import MODEL_BUILD_LOCK
    from studio.presets import load_preset

    seen = []
    real = runner.load_base_pipeline

    def checked(*args, **kwargs):
        seen.append(MODEL_BUILD_LOCK._is_owned())
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "load_base_pipeline", checked)
    engine = runner.Engine(load_preset("tiny-image"))
    threads = [threading.Thread(target=engine.base_pipeline) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [True], "exactly one load, made under the model-build lock"


def test_repeats_run_in_rounds_and_ask_zerogpu_for_more_time(client):
    *_, report, _ab, _video, _plot, _slider = _compare(client, steps=3, variants=("naive4", "teacache"), repeats=2)
    assert [v["timings"]["repeats"] for v in report["variants"]] == [2, 2, 2]  # baseline added, each a median of 2
    from studio.ui.compare_run import _gpu_seconds

    once = _gpu_seconds("tiny-image", "a red circle", 0, 50, ["baseline", "teacache"], "", 4.5, 0.1, 1)
    assert _gpu_seconds("tiny-image", "a red circle", 0, 50, ["baseline", "teacache"], "", 4.5, 0.1, 3) > once
