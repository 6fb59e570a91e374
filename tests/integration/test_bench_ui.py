"""The Bench tab through gradio_client: named endpoints, a small real run, and a clear error for bad input."""

import re
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from studio.bench.store import read_rows
from studio.spotcheck import VoteStore
from tests.fixtures.studio_app import serve_bench_tab


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out_root = tmp_path_factory.mktemp("bench-ui")
    demo, url = serve_bench_tab(out_root)
    yield url, out_root
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def _args(**changes):
    args = {"preset": "tiny-image", "source": "Built-in set", "prompt_set": "held-out", "prompts_file": None,
            "count": 2, "seed": 0, "steps": 6, "variants": ["baseline", "naive4"], "extra": "", "sweep": "",
            "budget_mean": 0.5, "budget_p95": 0.5, "gpu_price": 0,  # 0: what an untouched field sends
            "typed_prompts": "", "size": "", "negative": ""}
    return list({**args, **changes}.values())


def test_endpoints_are_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/bench_run", "/bench_preset", "/bench_cancel"} <= names


def test_small_bench_through_the_api(client, server):
    status, chart, table, gallery, recommendation, downloads = client.predict(*_args(), api_name="/bench_run")
    assert status.startswith("**Done:** 4 of 4 results")
    assert chart and chart.endswith(".png")
    assert [row[0].split(" ")[0] for row in table["data"]] == ["baseline", "naive4"]
    cost = table["headers"].index("$/1000")
    assert all(float(row[cost]) > 0 for row in table["data"])  # a price of 0 means the device's table price
    assert len(gallery) == 4  # naive4's two prompts, each as a baseline | variant pair
    assert "Recommendation" in recommendation
    assert {d.rsplit("/", 1)[-1] for d in downloads} >= {"report.html", "summary.json", "recommended.py"}

    # the finished bench becomes a blind spot-check session: naive4 against the baseline on both prompts
    message = client.predict(api_name="/bench_spotcheck")
    session_id = re.search(r"Session `([\w-]+)` created\*\*: 2 pairs \(naive4 vs baseline\)", message).group(1)
    assert f"?spotcheck={session_id}" in message
    session = VoteStore(server[1] / "spotcheck.sqlite3").get_session(session_id)
    assert sorted(p.prompt for p in session.pairs) == sorted(row[1] for row in _first_prompts(server[1]))
    # named pairs, here the other way round: the reference shown is naive4
    message = client.predict("baseline:naive4", api_name="/bench_spotcheck")
    assert "2 pairs (baseline vs naive4)" in message
    with pytest.raises(AppError, match="pairs: 'naive4' is malformed; write VARIANT:REFERENCE"):
        client.predict("naive4", api_name="/bench_spotcheck")


def test_an_earlier_bench_reopens_with_its_results(client, server):
    # after test_small_bench_through_the_api: its folder is in the list and opens as it finished
    bench = _small_bench(server[1]).name
    status, chart, table, gallery, recommendation, downloads = client.predict(bench, api_name="/bench_open")
    assert status.startswith("**Opened**") and bench in status and "2 prompts, 2 variants" in status
    assert [row[0].split(" ")[0] for row in table["data"]] == ["baseline", "naive4"] and chart.endswith(".png")
    assert len(gallery) == 4 and "Recommendation" in recommendation and len(downloads) >= 5
    with pytest.raises(AppError, match="Pick a bench"):
        client.predict(None, api_name="/bench_open")


def test_a_cut_short_bench_resumes_in_its_folder(client, server):
    # the small bench of test_small_bench_through_the_api, cut back to its first result as if cancelled there
    import json
    import shutil

    out_root = server[1]
    bench = _small_bench(out_root)
    assert json.loads((bench / "request.json").read_text())["variants"] == ["baseline", "naive4"]
    first, *_ = (bench / "bench.jsonl").read_text().splitlines()
    (bench / "bench.jsonl").write_text(first + "\n")
    status, *_ = client.predict(bench.name, api_name="/bench_resume")
    assert status.startswith("**Done:** 4 of 4 results"), status
    rows = (bench / "bench.jsonl").read_text().splitlines()
    assert len(rows) == 4 and rows[0] == first  # the kept result was not redone
    # a bench folder the page did not start (the CLI's) has no request to resume with
    cli_bench = out_root / "from-the-cli"
    cli_bench.mkdir()
    shutil.copy(bench / "summary.json", cli_bench / "summary.json")
    with pytest.raises(AppError, match="has no request.json"):
        client.predict("from-the-cli", api_name="/bench_resume")
    shutil.rmtree(cli_bench)


def test_only_listed_benches_open():
    from studio.bench.history import list_runs, load_run

    assert list_runs(Path("/nonexistent")) == []
    with pytest.raises(ValueError, match="no finished bench named '../etc'") as refused:
        load_run(Path(__file__).parent, "../etc")
    assert str(Path(__file__).parent) not in str(refused.value)  # browsers never see the server's folders


def _small_bench(out_root):
    """The folder of test_small_bench_through_the_api's bench: the first this module started."""
    return min((d for d in out_root.iterdir() if (d / "request.json").is_file()),
               key=lambda d: (d / "request.json").stat().st_mtime_ns)


def _first_prompts(out_root):
    """(variant, prompt) of the naive4 rows of the one plain bench run so far."""
    import json

    (bench,) = [d for d in out_root.iterdir() if (d / "bench.jsonl").is_file()]  # the module's first bench
    rows = [json.loads(line) for line in (bench / "bench.jsonl").read_text().splitlines()]
    return [(r["variant"], r["prompt"]) for r in rows if r["variant"] == "naive4"]


def test_spot_check_needs_a_finished_bench(server):
    with pytest.raises(AppError, match="Run a benchmark first"):
        Client(server[0], verbose=False).predict(api_name="/bench_spotcheck")


def test_threshold_sweep_with_the_default_variants_sweeps_the_cached_ones(client):
    # the sweep field's own example, with the tab's default choices (cached and uncached): it once failed outright
    out = client.predict(*_args(count=1, steps=4, variants=["baseline", "int8", "teacache", "fbc", "naive4"],
                                sweep="threshold=0.05,0.2"), api_name="/bench_run")
    status, table = out[0], out[2]
    assert status.startswith("**Done:** 5 of 5 results") and "left out (no cache): int8, naive4" in status
    assert [row[0].split(" ")[0] for row in table["data"]] == [
        "baseline", "teacache-t0.05", "teacache-t0.2", "fbc-t0.05", "fbc-t0.2"]


def test_typed_prompts_are_benched_and_kept_for_a_resume(client, server):
    import glob
    import tempfile

    def temporary():
        return set(glob.glob(f"{tempfile.gettempdir()}/studio-prompts-*"))

    before = temporary()
    typed = "a large red circle at the left\n\n  a small blue square at the top  \n"  # blank lines are skipped
    status, _chart, table, *_ = client.predict(*_args(source="Type them", typed_prompts=typed, count=None),
                                               api_name="/bench_run")
    assert status.startswith("**Done:** 4 of 4 results"), status
    folder = Path(re.search(r"Folder: `([^`]+)`", status).group(1))
    assert (folder / "prompts.txt").read_text() == typed  # in the bench's folder: a resume reads it there
    assert sorted(r["prompt"] for r in read_rows(folder / "bench.jsonl")) == sorted(
        ["a large red circle at the left"] * 2 + ["a small blue square at the top"] * 2)
    with pytest.raises(AppError, match="type the prompts, one a line"):
        client.predict(*_args(source="Type them", typed_prompts=" \n "), api_name="/bench_run")
    with pytest.raises(AppError, match="line 2"):  # checked as an uploaded file is: each word, by line
        client.predict(*_args(source="Type them", typed_prompts="a red circle\na pink dragon"), api_name="/bench_run")
    assert temporary() == before  # the typed file lives on in the bench's folder only


def test_a_bench_at_another_size(client):
    status, *_ = client.predict(*_args(count=1, size="96x64"), api_name="/bench_run")
    assert status.startswith("**Done:** 2 of 2 results"), status
    folder = Path(re.search(r"Folder: `([^`]+)`", status).group(1))
    assert {r["size"] for r in read_rows(folder / "bench.jsonl")} == {"96x64"}
    with pytest.raises(AppError, match="width 100 not allowed; WxH, both multiples of 8"):
        client.predict(*_args(size="100x64"), api_name="/bench_run")
    with pytest.raises(AppError, match="preset 'tiny-image' \\(tiny\\) takes no negative prompt"):
        client.predict(*_args(negative="blurry"), api_name="/bench_run")


def test_bad_input_is_a_clear_error(client):
    with pytest.raises(AppError, match="parameters: threshold, quant, steps"):
        client.predict(*_args(sweep="speed=1"), api_name="/bench_run")
    with pytest.raises(AppError, match="upload a prompts file"):
        client.predict(*_args(source="Upload a file"), api_name="/bench_run")
    variants, sets, source, hint, negative = client.predict("tiny-video", api_name="/bench_preset")
    assert negative["visible"] is False and client.predict("sdxl", api_name="/bench_preset")[-1]["visible"] is True
    client.predict("tiny-image", api_name="/bench_preset")  # this session's later runs use its built-in sets
    assert "held-out" in hint


UPLOADS = {  # name -> (content, words the error must contain)
    "binary.txt": (bytes(range(256)) * 8, "looks binary"),
    "empty.txt": (b"", "empty"),
    "latin1.txt": ("a red circle \xe0 la left\n".encode("latin-1"), "not valid UTF-8"),
    "many.txt": (b"a red circle\n" * 100_000, "at most 5,000 prompts"),  # 1.3 MB, 100,000 lines
    "big.txt": (b"a red circle at the left " * 120_000, "at most 2,097,152 bytes"),  # 3 MB: the loader's limit
    "huge.txt": (b"x" * (6 * 1024 * 1024), "exceeds the maximum file size"),  # 6 MB: refused before upload
    "words.txt": (b"a red circle at the left\na pink dragon\n", "line 2"),
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_bad_uploads_are_clear_errors_and_the_next_run_works(client, tmp_path, name):
    content, words = UPLOADS[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Exception, match=words) as info:
        client.predict(*_args(source="Upload a file", prompts_file=handle_file(str(path))), api_name="/bench_run")
    assert "Traceback" not in str(info.value)
    status = client.predict(*_args(count=1, steps=2, variants=["naive4"]), api_name="/bench_run")[0]
    assert status.startswith("**Done:**")


@pytest.mark.parametrize("field, value, words", [  # the handler itself, as a caller that skips gradio's checks
    ("size", 5, "size 5 is not WxH"),
    ("negative", ["blurry"], "the negative prompt must be text, got list"),
    ("sweep", 3, "Sweep must be text"),
    ("extra", 5, "custom variants must be text"),
    ("variants", [3], "variant names must be text"),
])
def test_wrong_kinds_of_value_are_clear_errors(tmp_path, field, value, words):
    import gradio as gr

    from studio.ui.bench_tab import make_run_handler

    names = ["preset_name", "source", "prompt_set", "prompts_file", "count", "seed", "steps", "variants", "extra",
             "sweep", "budget_mean", "budget_p95", "gpu_price", "typed_prompts", "size", "negative"]
    args = dict(zip(names, _args(), strict=True))
    with pytest.raises(gr.Error, match=words):
        next(make_run_handler(None, tmp_path)(**{**args, field: value}))
    assert not any(tmp_path.iterdir())  # refused before a bench folder was made
