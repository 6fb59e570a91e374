"""Spot-check sessions from compare/bench folders, the blind layout, and the rater's flow (fake media, no model)."""

import json

import pytest

from studio.spotcheck import (
    DuplicateVoteError,
    SpotcheckError,
    VoteStore,
    cast_vote,
    create_session_from_folders,
    next_pair_for_rater,
    pair_layout,
    rater_order,
    rater_reveal,
    session_link,
)
from studio.spotcheck.layout import variant_on_left
from studio.spotcheck.media import blind_copy
from tests.fixtures.spotcheck_fakes import write_fake_bench, write_fake_compare


@pytest.fixture
def store(tmp_path):
    return VoteStore(tmp_path / "votes.sqlite3")


@pytest.fixture
def compares(tmp_path):
    root = tmp_path / "runs"
    for i, prompt in enumerate(["a red circle", "a blue square", "a green triangle"]):
        write_fake_compare(root / f"cmp{i}", prompt=prompt, seed=i)
    return root


def test_default_pairs_are_every_variant_vs_the_baseline_on_each_prompt(store, compares):
    session = create_session_from_folders(store, [compares])
    assert len(session.pairs) == 6 and session.media_kind == "image"
    assert {(p.variant, p.reference) for p in session.pairs} == {("teacache", "baseline"), ("naive4", "baseline")}
    for p in session.pairs:  # same prompt and seed on both sides, media from that prompt's folder
        assert p.variant_media.endswith(f"{p.variant}.png") and p.reference_media.endswith("baseline.png")
        assert str(p.seed) == p.variant_media.split("cmp")[1][0]
    assert store.get_session(session.id) == session


def test_pairs_option_compares_any_two_variants(store, compares):
    session = create_session_from_folders(store, [compares / "cmp0", compares / "cmp1"], pairs="naive4:teacache")
    assert [(p.variant, p.reference, p.prompt) for p in session.pairs] == [
        ("naive4", "teacache", "a red circle"), ("naive4", "teacache", "a blue square")]


@pytest.mark.parametrize("pairs, message", [
    ("naive4", "malformed; write VARIANT:REFERENCE"),
    ("naive4:naive4", "compares a variant with itself"),
    ("int8:baseline", "unknown variants int8; known: baseline, teacache, naive4"),
])
def test_bad_pairs_are_refused_with_what_is_allowed(store, compares, pairs, message):
    with pytest.raises(SpotcheckError, match=message):
        create_session_from_folders(store, [compares], pairs=pairs)


def test_failed_variants_are_left_out(store, tmp_path):
    folder = write_fake_compare(tmp_path / "c", failed=("naive4",))
    session = create_session_from_folders(store, [folder])
    assert [p.variant for p in session.pairs] == ["teacache"]


def test_video_sessions_use_the_mp4(store, tmp_path):
    session = create_session_from_folders(store, [write_fake_compare(tmp_path / "v", video=True)])
    assert session.media_kind == "video"
    assert all(p.variant_media.endswith(".mp4") and p.reference_media.endswith(".mp4") for p in session.pairs)


def test_mixed_images_and_videos_are_refused(store, tmp_path):
    write_fake_compare(tmp_path / "all" / "img", prompt="a", video=False)
    write_fake_compare(tmp_path / "all" / "vid", prompt="b", video=True)
    with pytest.raises(SpotcheckError, match="mix images and videos"):
        create_session_from_folders(store, [tmp_path / "all"])


def test_bench_folder_with_relative_media_and_a_torn_last_line(store, tmp_path):
    folder = write_fake_bench(tmp_path / "bench", prompts=("a red circle", "a blue square", "a cyan circle"),
                              torn_tail=True)
    session = create_session_from_folders(store, [folder])
    assert [(p.variant, p.reference, p.seed) for p in session.pairs] == [("teacache", "baseline", s)
                                                                         for s in (100, 101, 102)]
    assert session.pairs[1].variant_media == str((folder / "media/p00001/teacache.png").resolve())


@pytest.mark.parametrize("corrupt, message", [
    (lambda r: "{not json", "is not valid JSON"),
    (lambda r: json.dumps([1, 2]), "not a compare report"),
    (lambda r: json.dumps({**r, "seed": "zero"}), "'seed' must be an integer"),
    (lambda r: json.dumps({**r, "variants": [{"kind": "x"}]}), r"variants\[0\] must be an object with a"),
    (lambda r: json.dumps({**r, "variants": [{**r["variants"][0], "media": "x.png"}]}), "must be a list"),
    (lambda r: json.dumps({**r, "variants": [{**r["variants"][0], "media": ["/etc/hostname.png"]}]}),
     "not found inside"),
])
def test_malformed_reports_say_what_is_wrong(store, tmp_path, corrupt, message):
    folder = write_fake_compare(tmp_path / "c")
    report = json.loads((folder / "report.json").read_text())
    (folder / "report.json").write_text(corrupt(report))
    with pytest.raises(SpotcheckError, match=message):
        create_session_from_folders(store, [folder])


def test_media_outside_the_report_folder_is_refused(store, tmp_path):
    folder = write_fake_compare(tmp_path / "c")
    outside = write_fake_compare(tmp_path / "elsewhere")
    report = json.loads((folder / "report.json").read_text())
    report["variants"][1]["media"] = [str(outside / "teacache.png")]  # exists, but not in this folder
    (folder / "teacache.png").unlink()  # so the same-named file in the folder is not picked up instead
    (folder / "report.json").write_text(json.dumps(report))
    with pytest.raises(SpotcheckError, match="media must lie in the report's folder"):
        create_session_from_folders(store, [folder])


def test_not_a_folder_or_an_empty_folder(store, tmp_path):
    with pytest.raises(SpotcheckError, match="is not a folder"):
        create_session_from_folders(store, [tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpotcheckError, match="no report.json or bench.jsonl"):
        create_session_from_folders(store, [tmp_path / "empty"])


def test_layout_is_deterministic_and_balanced():
    lefts = [variant_on_left("sess01", 3, f"rater{i}") for i in range(400)]
    assert lefts == [variant_on_left("sess01", 3, f"rater{i}") for i in range(400)]  # a reload sees the same
    assert 160 < sum(lefts) < 240  # about half the raters see the variant on the left
    per_pair = [variant_on_left("sess01", i, "ana") for i in range(400)]
    assert 160 < sum(per_pair) < 240  # and about half the pairs, for one rater
    assert pair_layout("sess01", 0, "ana", "v", "r") in (("v", "r"), ("r", "v"))
    orders = {tuple(rater_order("sess01", 6, f"r{i}")) for i in range(20)}
    assert all(sorted(o) == list(range(6)) for o in orders) and len(orders) > 10  # shuffled per rater


def test_rater_flow_vote_duplicate_and_reveal(store, compares):
    session = create_session_from_folders(store, [compares])
    first = next_pair_for_rater(store, session.id, "Ana")
    assert (first.position, first.total) == (1, 6)
    assert next_pair_for_rater(VoteStore(store.path), session.id, "ana ") == first  # reload, same rater
    pair = session.pairs[first.pair_index]
    vote = cast_vote(store, session.id, first.pair_index, "Ana", "left", comment="left looks sharper")
    left_is_variant = first.left_media == pair.variant_media
    assert vote.choice == ("variant" if left_is_variant else "reference")
    with pytest.raises(DuplicateVoteError, match="rater 'ANA' already voted on pair .* the first vote stands"):
        cast_vote(store, session.id, first.pair_index, "ANA", "right")
    with pytest.raises(SpotcheckError, match="revealed after the last vote; 5 pairs left"):
        rater_reveal(store, session.id, "Ana")
    while (view := next_pair_for_rater(store, session.id, "Ana")) is not None:
        cast_vote(store, session.id, view.pair_index, "Ana", "tie")
    reveal = rater_reveal(store, session.id, "Ana")
    assert len(reveal) == 6 and reveal[0]["comment"] == "left looks sharper"
    assert reveal[0]["your_choice"] == reveal[0]["left"]  # Ana picked the left one
    assert {reveal[0]["left"], reveal[0]["right"]} == {pair.variant, pair.reference}
    assert all(r["your_choice"] == "tie" for r in reveal[1:])


@pytest.mark.parametrize("kwargs, message", [
    ({"choice": "up"}, "choice 'up' unknown; known: left, right, tie, both_bad"),
    ({"pair_index": 99}, "pair 99 is not in session"),
    ({"rater": "   "}, "rater name is empty"),
    ({"rater": "x" * 65}, "at most 64"),
    ({"comment": "y" * 2001}, "comment has 2001 characters"),
])
def test_bad_votes_are_refused(store, compares, kwargs, message):
    session = create_session_from_folders(store, [compares])
    args = {"pair_index": 0, "rater": "ana", "choice": "left", "comment": ""} | kwargs
    with pytest.raises(SpotcheckError, match=message):
        cast_vote(store, session.id, **args)
    assert store.votes(session.id) == []


def test_unknown_and_malformed_session_ids(store):
    with pytest.raises(SpotcheckError, match="unknown session 'abcdefgh'"):
        store.get_session("abcdefgh")
    with pytest.raises(SpotcheckError, match="malformed"):
        store.get_session("../../etc")


def test_share_link_format():
    assert session_link("Ab3_x-Yz01") == "?spotcheck=Ab3_x-Yz01"
    assert session_link("Ab3_x-Yz01", "https://me-studio.hf.space") == "https://me-studio.hf.space/?spotcheck=Ab3_x-Yz01"
    assert session_link("Ab3_x-Yz01", "http://h:7860/?x=1") == "http://h:7860/?spotcheck=Ab3_x-Yz01"


def test_blind_copy_hides_the_variant_name(tmp_path):
    src = tmp_path / "teacache.png"
    src.write_bytes(b"png bytes")
    copy = blind_copy(src)
    assert "teacache" not in copy and copy.endswith(".png")
    assert open(copy, "rb").read() == b"png bytes" and blind_copy(src) == copy
    with pytest.raises(SpotcheckError, match="missing"):
        blind_copy(tmp_path / "gone.png")


def test_session_ids_never_start_like_a_command_line_option(monkeypatch):
    from studio.spotcheck import sessions

    drawn = iter(["-eLADD_FKZc", "_bcdefghijk", "Abcdefghijk"])
    monkeypatch.setattr(sessions.secrets, "token_urlsafe", lambda n: next(drawn))
    assert sessions.new_session_id() == "Abcdefghijk"  # the first two are drawn again
