"""A vote-casting process killed with SIGKILL mid-session loses no vote it had acknowledged.

The child casts votes as fast as it can and prints an ACK line after each `cast_vote` returns (i.e. after the
commit). The parent kills it at an arbitrary moment, three times, restarting it where the database says it got
to, then checks every acknowledged vote is stored, nothing twice, and the database is intact. The second test
does the same to a Gradio server process with the spot-check tab, voting through gradio_client.
"""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from studio.spotcheck import Pair, VoteStore

ROOT = Path(__file__).resolve().parents[2]
N_PAIRS = 10
CHILD = """
import sys
from studio.spotcheck import VoteStore, cast_vote

store, session_id, start, n_pairs = VoteStore(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
i = start
while True:
    pair, rater = i % n_pairs, f"rater{i // n_pairs:03d}"
    cast_vote(store, session_id, pair, rater, ("left", "right", "tie")[i % 3])
    print(f"ACK {pair} {rater}", flush=True)
    i += 1
"""


def _run_and_kill(db: Path, session_id: str, start: int, kill_after: int) -> set[tuple[int, str]]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), session_id, str(start), str(N_PAIRS)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    acked = set()
    try:
        for line in child.stdout:
            _, pair, rater = line.split()
            acked.add((int(pair), rater))
            if len(acked) >= kill_after:
                os.kill(child.pid, signal.SIGKILL)  # while it is busy casting the next vote
                break
        # acks still in the pipe, or already read ahead into the reader's buffer, were acknowledged too (reading the
        # rest through the same text stream keeps that buffer; communicate() would read past it and lose them)
        rest, err = child.stdout.read(), child.stderr.read()
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, err
    acked |= {(int(p), r) for _, p, r in (line.split() for line in rest.splitlines())}
    return acked


def test_sigkill_loses_no_acknowledged_vote(tmp_path):
    db = tmp_path / "spot.sqlite3"
    store = VoteStore(db)
    session = store.create_session("killtest1", "kill", "test", "image",
                                   [Pair(i, f"p{i}", i, "fast", "baseline", "a.png", "b.png") for i in range(N_PAIRS)])
    acked: set[tuple[int, str]] = set()
    for round_, kill_after in enumerate((17, 29, 41)):
        start = len(store.votes(session.id))  # resume where the database says the last run got to
        acked |= _run_and_kill(db, session.id, start, kill_after)
        stored = [(v.pair_index, v.rater) for v in store.votes(session.id)]
        assert len(stored) == len(set(stored)), "a vote was stored twice"
        missing = acked - set(stored)
        assert not missing, f"acknowledged votes lost after kill {round_ + 1}: {sorted(missing)}"
        # at most one vote per kill can be committed but not yet acknowledged (killed between commit and print)
        assert len(stored) - len(acked) <= round_ + 1
    assert len(acked) >= 17 + 29 + 41
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_server_killed_mid_session_keeps_every_acknowledged_vote(tmp_path):
    # The Gradio server with the spot-check tab in its own process; a client votes through /spotcheck_vote and
    # the server is SIGKILLed while a vote is in flight. Every vote the server answered "stored" must be there.
    import socket
    import threading

    from gradio_client import Client

    from tests.fixtures.spotcheck_fakes import write_fake_compare

    for i in range(3):
        write_fake_compare(tmp_path / "runs" / f"c{i}", prompt=f"a red circle {i}", seed=i)
    db = tmp_path / "spot.sqlite3"
    from studio.spotcheck import create_session_from_folders

    session = create_session_from_folders(VoteStore(db), [tmp_path / "runs"])  # 6 pairs
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tests.fixtures.spotcheck_app", str(db), str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    acked, in_flight = [], threading.Event()
    try:
        assert server.stdout.readline().startswith("READY"), "the test server did not start"
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        killer = threading.Thread(target=lambda: (in_flight.wait(120), os.kill(server.pid, signal.SIGKILL)))
        killer.start()
        failure = None
        try:
            for k in range(40):
                rater, pair = f"r{k // 6}", k % 6
                if len(acked) == 8:
                    in_flight.set()  # kill while this request is on its way
                r = client.predict(session.id, rater, pair, "left", "", api_name="/spotcheck_vote")
                if not r["stored"]:
                    failure = f"vote refused before the kill: {r}"
                    break
                acked.append((pair, rater))
        except Exception as e:  # the connection dies with the server: expected, but only after the kill
            if not in_flight.is_set():
                failure = f"the server failed before it was killed: {e!r}"
        in_flight.set()
        killer.join(timeout=60)
        assert failure is None, failure
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL
    assert len(acked) >= 8
    stored = {(v.pair_index, v.rater) for v in VoteStore(db).votes(session.id)}
    assert set(acked) <= stored, f"acknowledged votes lost: {sorted(set(acked) - stored)}"
    assert len(stored) - len(acked) <= 1  # at most the vote in flight, committed but never answered
