"""The spot-check tab through gradio_client: blind rating flow, results, 20 concurrent clients, errors."""

import csv
import socket
import threading

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from studio.spotcheck import VoteStore, create_session_from_folders
from tests.fixtures.spotcheck_app import build_app, launch
from tests.fixtures.spotcheck_fakes import write_fake_compare

N_CLIENTS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("spotcheck-ui")
    for i, prompt in enumerate(["a red circle", "a blue square", "a green triangle"]):
        write_fake_compare(root / "runs" / f"c{i}", prompt=prompt, seed=i)
    db = str(root / "spot.sqlite3")
    demo = build_app(db)
    url = launch(demo, free_port())
    yield url, VoteStore(db), root / "runs"
    demo.close()


def _new_session(app, folders=("c0", "c1")):
    _, store, runs = app
    return store, create_session_from_folders(store, [runs / f for f in folders])  # 4 pairs


def test_endpoints_have_names(app):
    names = set(Client(app[0], verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/spotcheck_start", "/spotcheck_vote_left", "/spotcheck_vote_right", "/spotcheck_vote_tie",
            "/spotcheck_vote_both_bad", "/spotcheck_results", "/spotcheck_next", "/spotcheck_vote",
            "/spotcheck_summary", "/spotcheck_export"} <= names


def test_blind_rating_flow_then_reveal(app):
    store, session = _new_session(app)
    client = Client(app[0], verbose=False)
    out = client.predict(session.id, "Ana", api_name="/spotcheck_start")
    status, progress, left_img, right_img, _, _, pair = out[:7]
    assert progress.startswith("**Pair 1 of 4**")
    shown = " ".join(str(x) for x in out)
    assert not any(name in shown for name in ("baseline", "teacache", "naive4")), "identity leaked before the end"
    first_pair = int(pair)
    for k in range(4):
        button = "/spotcheck_vote_left" if k == 0 else "/spotcheck_vote_tie"
        out = client.predict(session.id, "Ana", pair, "sharper" if k == 0 else "", api_name=button)
        pair = out[6]
        if k < 3:
            assert out[1].startswith(f"**Pair {k + 2} of 4**")
            assert not any(name in " ".join(map(str, out)) for name in ("baseline", "teacache", "naive4"))
    assert out[1].startswith("**All 4 pairs rated")
    reveal = out[-1]["value"]["data"]
    # the columns: #, your choice, left, right, comment, prompt (the long prompt last, for phones)
    assert len(reveal) == 4 and reveal[0][4] == "sharper" and reveal[0][1] == reveal[0][2]  # picked the left one
    vote = {v.pair_index: v for v in store.votes(session.id)}[first_pair]
    p = session.pairs[first_pair]
    assert reveal[0][5] == p.prompt
    assert vote.shown_left == reveal[0][2] and vote.choice == ("variant" if vote.shown_left == p.variant
                                                                else "reference")


def test_share_link_is_a_clickable_link_to_this_app(app):
    _, session = _new_session(app)
    text = Client(app[0], verbose=False).predict(session.id, api_name="/spotcheck_link")
    link = f"{app[0]}?spotcheck={session.id}"
    assert text == f"Share this link with raters: [{link}]({link})"


def test_double_press_keeps_the_first_vote_and_moves_on(app):
    store, session = _new_session(app)
    client = Client(app[0], verbose=False)
    pair = client.predict(session.id, "Bob", api_name="/spotcheck_start")[6]
    client.predict(session.id, "Bob", pair, "", api_name="/spotcheck_vote_right")
    out = client.predict(session.id, "Bob", pair, "", api_name="/spotcheck_vote_left")
    assert "already voted" in out[0] and out[1].startswith("**Pair 2 of 4**")
    assert len(store.votes(session.id)) == 1
    again = client.predict(session.id, "bob", int(pair), "tie", "", api_name="/spotcheck_vote")
    assert (again["stored"], again["duplicate"]) == (False, True) and "the first vote stands" in again["message"]
    assert again["next"]["pair"]["position"] == 2


def test_results_view_shows_verdicts(app):
    store, session = _new_session(app)
    client = Client(app[0], verbose=False)
    for rater in ("r1", "r2"):
        nxt = client.predict(session.id, rater, api_name="/spotcheck_next")
        while not nxt["done"]:
            nxt = client.predict(session.id, rater, nxt["pair"]["pair_index"], "tie", "",
                                 api_name="/spotcheck_vote")["next"]
        assert len(nxt["reveal"]) == 4
    text, table = client.predict(session.id, api_name="/spotcheck_results")
    assert "8 votes from 2 raters" in text and "Agreement" in text
    rows = {r[0]: r for r in table["data"]}
    assert rows["teacache"][2:7] == [0, 4, 0, 0, 4] and rows["teacache"][9] == "indistinguishable from baseline"
    summary = client.predict(session.id, api_name="/spotcheck_summary")
    assert summary["agreement"]["percent"] == 1.0
    # the raw votes, as `spotcheck export` writes them: a hosted app's owner has no shell
    shown = client.predict(session.id, api_name="/spotcheck_export")
    with open(shown["value"] if isinstance(shown, dict) else shown, encoding="utf-8") as f:
        votes = list(csv.DictReader(f))
    assert len(votes) == 8 and {v["rater"] for v in votes} == {"r1", "r2"} and {v["choice"] for v in votes} == {"tie"}


def test_twenty_concurrent_raters_through_the_server(app):
    # 20 raters at once on one 2-pair session through the HTTP API, each with its own client (its own session,
    # as each rater's browser has). One client shared by 20 threads lost a reply now and then: gradio_client's
    # shared event stream can close between one thread's request and its reply (CancelledError on the client
    # while the server had stored the vote; 1 run in 25).
    _, store, runs = app
    session = create_session_from_folders(store, [runs / "c0"])
    errors, start = [], threading.Barrier(N_CLIENTS)

    def rater(k: int) -> None:
        try:
            client = Client(app[0], verbose=False)
            start.wait(timeout=60)
            nxt = client.predict(session.id, f"c{k}", api_name="/spotcheck_next")
            while not nxt["done"]:
                r = client.predict(session.id, f"c{k}", nxt["pair"]["pair_index"], ("left", "right")[k % 2], "",
                                   api_name="/spotcheck_vote")
                assert r["stored"], r
                nxt = r["next"]
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=rater, args=(k,)) for k in range(N_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    keys = [(v.pair_index, v.rater) for v in store.votes(session.id)]
    assert len(keys) == len(set(keys)) == N_CLIENTS * len(session.pairs) == 40


@pytest.mark.parametrize("args, api, message", [
    (("abcdefgh", "Ana"), "/spotcheck_start", "Session 'abcdefgh' does not exist here: it was deleted, or the link "
                                              "is from another studio. Ask whoever shared the link for a new one."),
    (("../etc", "Ana"), "/spotcheck_start", "malformed"),
    ((None, ""), "/spotcheck_start", "malformed"),
])
def test_errors_reach_the_client_as_messages(app, args, api, message):
    with pytest.raises(AppError, match=message):
        Client(app[0], verbose=False).predict(*args, api_name=api)


def test_bad_vote_and_empty_name(app):
    _, session = _new_session(app)
    client = Client(app[0], verbose=False)
    with pytest.raises(AppError, match="rater name is empty"):
        client.predict(session.id, "  ", api_name="/spotcheck_start")
    with pytest.raises(AppError, match="choice 'sideways' unknown"):
        client.predict(session.id, "Ana", 0, "sideways", "", api_name="/spotcheck_vote")
    with pytest.raises(AppError, match="no pair is open"):
        client.predict(session.id, "Ana", -1, "", api_name="/spotcheck_vote_left")
