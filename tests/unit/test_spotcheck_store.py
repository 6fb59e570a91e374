"""The vote store under load: many threads voting at once, duplicates refused by the database, export, delete."""

import csv
import sqlite3
import threading

import pytest

from studio.spotcheck import DuplicateVoteError, Pair, SpotcheckError, VoteStore, cast_vote, default_db_path
from studio.spotcheck.sessions import next_pair_for_rater

N_PAIRS, N_RATERS, N_THREADS = 25, 40, 20  # 25 x 40 = 1,000 votes from 20 concurrent clients
CHOICES = ("left", "right", "tie", "both_bad")


def _pairs(n: int) -> list[Pair]:
    return [Pair(i, f"prompt {i}", i, "fast", "baseline", f"/m/fast{i}.png", f"/m/base{i}.png") for i in range(n)]


@pytest.fixture
def store(tmp_path):
    return VoteStore(tmp_path / "votes.sqlite3")


def test_database_is_in_wal_mode(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_db_path_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_SPOTCHECK_DB", str(tmp_path / "x.sqlite3"))
    assert default_db_path() == tmp_path / "x.sqlite3"
    assert VoteStore().path == tmp_path / "x.sqlite3"
    monkeypatch.delenv("STUDIO_SPOTCHECK_DB")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_db_path() == tmp_path / ".cache" / "speedup-studio" / "spotcheck.sqlite3"


def test_twenty_concurrent_clients_cast_1000_votes_none_lost_none_duplicated(store):
    session = store.create_session("loadtest01", "load", "test", "image", _pairs(N_PAIRS))
    raters = [f"rater{r:02d}" for r in range(N_RATERS)]
    expected = {(p, r): CHOICES[(p * 7 + i) % 4] for i, r in enumerate(raters) for p in range(N_PAIRS)}
    errors, start = [], threading.Barrier(N_THREADS)

    def client(k: int) -> None:
        mine = raters[k::N_THREADS]  # each client votes for 2 raters, in the order each rater sees the pairs
        start.wait()
        try:
            for rater in mine:
                while (view := next_pair_for_rater(store, session.id, rater)) is not None:
                    cast_vote(store, session.id, view.pair_index, rater, expected[(view.pair_index, rater)])
        except Exception as e:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    votes = store.votes(session.id)
    assert len(votes) == N_PAIRS * N_RATERS == 1000
    keys = [(v.pair_index, v.rater) for v in votes]
    assert len(set(keys)) == 1000 and set(keys) == set(expected)
    for v in votes:  # each stored choice is the rater's click, resolved through their own left/right layout
        click = expected[(v.pair_index, v.rater)]
        if click in ("tie", "both_bad"):
            assert v.choice == click
        else:
            picked_left = click == "left"
            assert (v.choice == "variant") == ((v.shown_left == "fast") == picked_left)


def test_simultaneous_duplicates_store_exactly_one_vote(store):
    session = store.create_session("duptest01", "dup", "test", "image", _pairs(1))
    outcomes, start = [], threading.Barrier(N_THREADS)

    def client() -> None:
        start.wait()
        try:
            cast_vote(store, session.id, 0, "Ana", "left")
            outcomes.append("stored")
        except DuplicateVoteError as e:
            outcomes.append(str(e))

    threads = [threading.Thread(target=client) for _ in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("stored") == 1
    assert all("already voted on pair 1" in o for o in outcomes if o != "stored")
    assert len(store.votes(session.id)) == 1


def test_export_csv_has_identities_and_keeps_comments_as_text(store, tmp_path):
    session = store.create_session("export001", "exp", "test", "image", _pairs(2))
    cast_vote(store, session.id, 0, "Ana", "tie", comment="=HYPERLINK(\"x\")")
    cast_vote(store, session.id, 1, "Bob", "left")
    assert store.export_csv(session.id, tmp_path / "out" / "votes.csv") == 2
    rows = list(csv.DictReader((tmp_path / "out" / "votes.csv").open()))
    assert [(r["pair"], r["rater"], r["variant"], r["reference"]) for r in rows] == [
        ("0", "Ana", "fast", "baseline"), ("1", "Bob", "fast", "baseline")]
    assert rows[0]["comment"] == "'=HYPERLINK(\"x\")"  # a spreadsheet must not run it
    assert rows[1]["preferred"] == rows[1]["shown_left"]  # Bob clicked left


def test_delete_removes_the_session_its_pairs_and_votes(store):
    keep = store.create_session("keep00001", "keep", "test", "image", _pairs(2))
    gone = store.create_session("gone00001", "gone", "test", "image", _pairs(3))
    for s in (keep, gone):
        cast_vote(store, s.id, 0, "Ana", "left")
    assert store.delete_session(gone.id) == 1
    with pytest.raises(SpotcheckError, match="unknown session 'gone00001'"):
        store.get_session(gone.id)
    assert [s["id"] for s in store.list_sessions()] == [keep.id]
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM pairs WHERE session_id = ?", (gone.id,)).fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 1


def test_a_folder_or_a_non_database_file_is_refused(tmp_path):
    with pytest.raises(SpotcheckError, match="is a folder"):
        VoteStore(tmp_path)
    bad = tmp_path / "not.sqlite3"
    bad.write_text("hello, I am not a database" * 100)
    with pytest.raises(SpotcheckError, match="spot-check database .* file is not a database"):
        VoteStore(bad)
