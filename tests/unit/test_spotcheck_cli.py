"""`python -m studio spotcheck ...` through studio.cli.main: output, exit codes, one-line errors."""

import csv
import json
import re

import pytest

from studio.cli import main
from studio.spotcheck import VoteStore, cast_vote, next_pair_for_rater
from tests.fixtures.spotcheck_fakes import write_fake_compare


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "spot.sqlite3")


@pytest.fixture
def runs(tmp_path):
    for i, prompt in enumerate(["a red circle", "a blue square"]):
        write_fake_compare(tmp_path / "runs" / f"c{i}", prompt=prompt, seed=i)
    return tmp_path / "runs"


def _create(capsys, db, *args) -> str:
    assert main(["spotcheck", "create", "--db", db, *args]) == 0
    out = capsys.readouterr().out
    return re.search(r"\?spotcheck=([A-Za-z0-9_-]+)", out).group(1)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_create_results_export_delete(capsys, db, runs, tmp_path):
    sid = _create(capsys, db, "--from", str(runs), "--base-url", "https://me-studio.hf.space")
    store = VoteStore(db)
    for rater in ("ana", "bob", "cy"):
        while (view := next_pair_for_rater(store, sid, rater)) is not None:
            cast_vote(store, sid, view.pair_index, rater, "tie")
    assert main(["spotcheck", "results", "--session", sid, "--db", db]) == 0
    text = capsys.readouterr().out
    assert "teacache" in text and "indistinguishable from baseline" in text and "Fleiss' kappa" in text
    assert main(["spotcheck", "results", "--session", sid, "--db", db, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["votes"] == 12 and summary["raters"] == 3
    assert {m["variant"]: m["preference"] for m in summary["matchups"]} == {"teacache": 0.5, "naive4": 0.5}
    assert main(["spotcheck", "export", "--session", sid, "--out", str(tmp_path / "v.csv"), "--db", db]) == 0
    assert len(list(csv.DictReader((tmp_path / "v.csv").open()))) == 12
    assert main(["spotcheck", "list", "--db", db]) == 0
    assert sid in capsys.readouterr().out
    assert main(["spotcheck", "delete", "--session", sid, "--db", db]) == 0
    assert "its 12 votes" in capsys.readouterr().out
    assert main(["spotcheck", "results", "--session", sid, "--db", db]) == 2


def test_share_link_uses_the_base_url(capsys, db, runs):
    assert main(["spotcheck", "create", "--db", db, "--from", str(runs), "--base-url", "https://x.hf.space"]) == 0
    assert re.search(r"share: https://x\.hf\.space/\?spotcheck=[A-Za-z0-9_-]{11}\n", capsys.readouterr().out)


def test_database_path_from_the_environment(capsys, monkeypatch, tmp_path, runs):
    monkeypatch.setenv("STUDIO_SPOTCHECK_DB", str(tmp_path / "env.sqlite3"))
    assert main(["spotcheck", "create", "--from", str(runs)]) == 0  # no --db: the env var's file
    sid = re.search(r"\?spotcheck=([A-Za-z0-9_-]+)", capsys.readouterr().out).group(1)
    assert [s["id"] for s in VoteStore(tmp_path / "env.sqlite3").list_sessions()] == [sid]


@pytest.mark.parametrize("make_args, message", [
    (lambda t, r: ["results", "--session", "abcdefgh"], "unknown session 'abcdefgh'"),
    (lambda t, r: ["results", "--session", "../x"], "session id '../x' is malformed"),
    (lambda t, r: ["create", "--from", str(t / "nowhere")], "is not a folder"),
    (lambda t, r: ["create", "--from", str(r / "c0" / "report.json")], "is not a folder"),
    (lambda t, r: ["create", "--from", str(t)], r"junk/report\.json' is not valid JSON"),
    (lambda t, r: ["create", "--from", str(r), "--pairs", "naive4:int8"], "unknown variants int8"),
    (lambda t, r: ["export", "--session", "abcdefgh", "--out", str(t)], "is a folder"),
    (lambda t, r: ["delete", "--session", "abcdefgh"], "unknown session"),
    (lambda t, r: ["frobnicate"], "invalid choice"),
    (lambda t, r: ["create"], "required: --from"),
])
def test_bad_input_exits_2_with_one_line(capsys, db, runs, tmp_path, make_args, message):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "report.json").write_text("{ malformed")
    assert main(["spotcheck", *make_args(tmp_path, runs), "--db", db]) == 2
    assert re.search(message, _error_line(capsys))


def test_malformed_report_json_exits_2(capsys, db, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "report.json").write_text("{ not json")
    assert main(["spotcheck", "create", "--from", str(folder), "--db", db]) == 2
    assert re.match(r"error: '.*report\.json' is not valid JSON", _error_line(capsys))


def test_a_file_that_is_not_a_database_exits_2(capsys, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not sqlite " * 200)
    assert main(["spotcheck", "list", "--db", str(bad)]) == 2
    assert "file is not a database" in _error_line(capsys)


def test_paths_under_a_file_exit_2_with_one_line(capsys, db, runs, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["spotcheck", "list", "--db", str(blocker / "votes.sqlite3")]) == 2
    assert re.match(r"error: spot-check database '.*a-file/votes\.sqlite3' cannot be created", _error_line(capsys))
    sid = _create(capsys, db, "--from", str(runs))
    assert main(["spotcheck", "export", "--session", sid, "--db", db, "--out", str(blocker / "v.csv")]) == 2
    assert re.match(r"error: cannot write the export to '.*a-file/v\.csv'", _error_line(capsys))
