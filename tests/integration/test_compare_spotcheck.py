"""From the Compare page to a blind spot-check session, with no shell: collect finished runs, create, rate.

Through gradio_client, like a browser session: the page keeps the last run and the collection per session.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from studio.config import Settings
from studio.spotcheck import VoteStore
from tests.fixtures.studio_app import serve

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

PROMPTS = ("a large red circle at the top left", "a small yellow triangle at the center")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare-spotcheck")
    settings = Settings(cache_dir=root / "cache", spotcheck_db=root / "votes.sqlite3")
    demo, url = serve(settings)
    yield gradio_client.Client(url, verbose=False), settings
    demo.close()


def _compare(client, preset: str, prompt: str, variants=("baseline", "naive4", "teacache")):
    report = client.predict(preset, prompt, 0, 8, list(variants), "", 1.0, 0.1, 1, api_name="/compare")[3]
    assert all(v["error"] is None for v in report["variants"])


def test_collected_comparisons_become_a_blind_session(page):
    client, settings = page
    with pytest.raises(AppError, match="Nothing collected yet"):
        client.predict(api_name="/spotcheck_create")
    with pytest.raises(AppError, match="Run a comparison first"):
        client.predict(api_name="/spotcheck_collect")

    _compare(client, "tiny-image", PROMPTS[0])
    collected = client.predict(api_name="/spotcheck_collect")
    assert "**1 comparison collected**" in collected and "naive4, teacache" in collected
    with pytest.raises(AppError, match="already collected"):  # the same run twice would only repeat its pairs
        client.predict(api_name="/spotcheck_collect")
    _compare(client, "tiny-video", "a blue triangle at the top moving left")
    with pytest.raises(AppError, match="holds image comparisons"):  # a session is all images or all videos
        client.predict(api_name="/spotcheck_collect")
    _compare(client, "tiny-image", PROMPTS[1])
    assert "**2 comparisons collected** (2 prompt/seed pairs" in client.predict(api_name="/spotcheck_collect")

    message = client.predict(api_name="/spotcheck_create")
    session_id = re.search(r"Session `([\w-]+)` created", message).group(1)
    assert "4 pairs" in message and f"?spotcheck={session_id}" in message
    session = VoteStore(settings.spotcheck_db).get_session(session_id)
    assert session.media_kind == "image"
    assert {(p.prompt, p.variant, p.reference) for p in session.pairs} == {
        (prompt, v, "baseline") for prompt in PROMPTS for v in ("naive4", "teacache")}
    for p in session.pairs:  # the media a rater is shown were saved beside the votes, one folder per run
        for media in (p.variant_media, p.reference_media):
            assert Path(media).is_file() and settings.spotcheck_db.parent / "spotcheck-media" in Path(media).parents

    rater = client.predict(session_id, "Ana", api_name="/spotcheck_next")
    assert not rater["done"] and rater["pair"]["total"] == 4 and rater["pair"]["prompt"] in PROMPTS
    with pytest.raises(AppError, match="Nothing collected yet"):  # creating empties the collection
        client.predict(api_name="/spotcheck_create")

    # named pairs: two variants head to head (the student against naive few-step, say), no baseline shown
    _compare(client, "tiny-image", PROMPTS[1])
    client.predict(api_name="/spotcheck_collect")
    with pytest.raises(AppError, match="unknown variants int8; known: baseline, naive4, teacache"):
        client.predict("teacache:int8", api_name="/spotcheck_create")
    message = client.predict("teacache:naive4", api_name="/spotcheck_create")  # the failed try kept the collection
    session_id = re.search(r"Session `([\w-]+)` created", message).group(1)
    pairs = VoteStore(settings.spotcheck_db).get_session(session_id).pairs
    assert [(p.variant, p.reference) for p in pairs] == [("teacache", "naive4")] and "1 pair " in message


def test_a_finished_comparison_downloads_as_a_compare_folder(page, tmp_path):
    import json
    import zipfile

    from studio.spotcheck.sources import read_outputs

    client = gradio_client.Client(page[0].src, verbose=False)  # a fresh browser session: nothing has run
    with pytest.raises(AppError, match="Run a comparison first"):
        client.predict(api_name="/download_comparison")
    with pytest.raises(AppError, match="Run a comparison first: its code is ready once it has finished"):
        client.predict(0.1, api_name="/variant_code")
    _compare(client, "tiny-image", PROMPTS[0])
    code = client.predict(0.5, api_name="/variant_code")  # the starred variant within the budget set now
    assert "recommended.py: naive4" in code["label"] and "STEPS = 4" in code["value"]
    shown = client.predict(api_name="/download_comparison")  # an update: the file box appears with the zip
    path = shown["value"] if isinstance(shown, dict) else shown
    with zipfile.ZipFile(path) as z:
        assert set(z.namelist()) == {"report.json", "report.html", "recommended.py", "baseline.png", "naive4.png",
                                     "teacache.png"}
        z.extractall(tmp_path)
    page_html = (tmp_path / "report.html").read_text()  # the page's cards and verdict in one file, media inlined
    assert page_html.count('<img class="media" src="data:image/png;base64,') == 3 and PROMPTS[0] in page_html
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["prompt"] == PROMPTS[0] and report["seed"] == 0
    teacache = next(v for v in report["variants"] if v["name"] == "teacache")
    assert teacache["media"] == ["teacache.png"] and teacache["metrics"]["lpips"] >= 0  # figures travel with media
    assert sorted(o.variant for o in read_outputs(tmp_path)) == ["baseline", "naive4", "teacache"]  # CLI-readable
    client.predict(api_name="/spotcheck_collect")
    assert client.predict(api_name="/spotcheck_clear") == "Nothing collected yet."
    with pytest.raises(AppError, match="Nothing collected yet"):  # cleared: nothing to make a session of
        client.predict(api_name="/spotcheck_create")
