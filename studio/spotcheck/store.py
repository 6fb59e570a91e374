"""Durable storage for spot-check sessions and votes: SQLite in WAL mode, one connection per thread.

Every vote is its own transaction, committed (and fsynced: synchronous=FULL) before `add_vote` returns, so a
vote that was acknowledged survives the process being killed. UNIQUE(session, pair, rater) makes the database,
not the caller, refuse a second vote by the same rater on the same pair, even under concurrent writers.

    store = VoteStore("/tmp/spot.sqlite3")      # or VoteStore() for $STUDIO_SPOTCHECK_DB / the user cache
    store.add_vote("k3J9x0aB", 0, "Ana", "variant", shown_left="teacache")
"""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from studio.storage import spaces_persistent_dir

DB_ENV = "STUDIO_SPOTCHECK_DB"
# Stored choices name identities (resolved from left/right by the server), so stats never need the layout.
CHOICES = ("variant", "reference", "tie", "both_bad")
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{6,40}$")
MAX_RATER_CHARS = 64
MAX_COMMENT_CHARS = 2000
MAX_TITLE_CHARS = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,
    media_kind TEXT NOT NULL CHECK (media_kind IN ('image', 'video'))
);
CREATE TABLE IF NOT EXISTS pairs (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    pair_index INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    seed INTEGER NOT NULL,
    variant TEXT NOT NULL,
    reference TEXT NOT NULL,
    variant_media TEXT NOT NULL,
    reference_media TEXT NOT NULL,
    PRIMARY KEY (session_id, pair_index)
);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    pair_index INTEGER NOT NULL,
    rater TEXT NOT NULL,
    rater_key TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('variant', 'reference', 'tie', 'both_bad')),
    shown_left TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    UNIQUE (session_id, pair_index, rater_key),
    FOREIGN KEY (session_id, pair_index) REFERENCES pairs(session_id, pair_index) ON DELETE CASCADE
);
"""


class SpotcheckError(ValueError):
    """Bad spot-check input (unknown session, bad rater name, bad choice...); the message says what is allowed."""


class UnknownSessionError(SpotcheckError):
    """No session of that id in this store (never made, or deleted)."""

    def __init__(self, session_id: str, message: str):
        super().__init__(message)
        self.session_id = session_id


class DuplicateVoteError(SpotcheckError):
    """The rater already voted on this pair; the first vote stands."""


@dataclass(frozen=True)
class Pair:
    """Two outputs of the same prompt and seed. `reference` is the baseline when the session compares to one."""

    index: int
    prompt: str
    seed: int
    variant: str
    reference: str
    variant_media: str
    reference_media: str


@dataclass(frozen=True)
class Session:
    id: str
    title: str
    created: str
    source: str
    media_kind: str  # "image" or "video"
    pairs: tuple[Pair, ...]


@dataclass(frozen=True)
class Vote:
    session_id: str
    pair_index: int
    rater: str
    choice: str  # one of CHOICES
    shown_left: str  # the label that was on the left (kept to check for position bias)
    comment: str
    created: str


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    """$STUDIO_SPOTCHECK_DB; else on a Space with persistent storage /data/speedup-studio/spotcheck.sqlite3 (votes
    must outlive a restart); else ~/.cache/speedup-studio/spotcheck.sqlite3 (XDG_CACHE_HOME respected)."""
    env = os.environ if environ is None else environ
    if env.get(DB_ENV):
        return Path(env[DB_ENV]).expanduser()
    persistent = spaces_persistent_dir(env)
    if persistent is not None:
        return persistent / "spotcheck.sqlite3"
    cache = Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME") or Path.home()) / ".cache").expanduser()
    return cache / "speedup-studio" / "spotcheck.sqlite3"


def check_session_id(session_id: str) -> str:
    text = (session_id or "").strip()
    if not SESSION_ID_RE.match(text):
        raise SpotcheckError(f"session id {session_id!r} is malformed; ids are 6-40 letters, digits, '-' or '_'")
    return text


def normalize_rater(name: str) -> tuple[str, str]:
    """(display name, key): whitespace collapsed; the key is case-folded so 'Ana' and 'ana ' are one rater."""
    display = " ".join(str(name or "").split())
    if not display:
        raise SpotcheckError("rater name is empty; type your name (1-64 characters)")
    if len(display) > MAX_RATER_CHARS:
        raise SpotcheckError(f"rater name has {len(display)} characters; at most {MAX_RATER_CHARS}")
    if not display.isprintable():
        raise SpotcheckError("rater name contains control characters; use plain text")
    return display, display.casefold()


def clean_comment(comment: str | None) -> str:
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise SpotcheckError(f"comment has {len(text)} characters; at most {MAX_COMMENT_CHARS}")
    return "".join(c for c in text if c.isprintable() or c in "\n\t")


def _csv_cell(value):
    # Spreadsheets run cells that start with = + - @ as formulas: a rater's comment must stay text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class VoteStore:
    """Sessions, pairs and votes in one SQLite file. Safe to share between threads and processes."""

    def __init__(self, path: str | Path | None = None, timeout_s: float = 30.0):
        self.path = Path(path).expanduser() if path else default_db_path()
        if self.path.exists() and self.path.is_dir():
            raise SpotcheckError(f"database path '{self.path}' is a folder; give a file path")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # e.g. a parent that is a file, or no permission
            raise SpotcheckError(f"spot-check database '{self.path}' cannot be created: {e.strerror or e}") from None
        self.timeout_s = timeout_s
        self._local = threading.local()
        try:
            with self._connection() as db:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:  # e.g. the path names some other file
            raise SpotcheckError(f"spot-check database '{self.path}' cannot be used: {e}") from None
        if mode.lower() != "wal":
            raise SpotcheckError(f"'{self.path}' cannot use WAL journaling (got {mode}); use a local disk")

    @contextmanager
    def _connection(self):
        # One connection per thread (sqlite3 connections must not cross threads), kept open: closing the last
        # connection to a WAL database checkpoints and deletes the WAL, which made every call cost a sync.
        # isolation_level=None: we issue BEGIN ourselves, so each write is exactly one committed transaction.
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # never reuse a connection across fork()
            try:
                conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
                conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=FULL")  # a commit is on disk before add_vote returns
            except sqlite3.Error as e:
                raise SpotcheckError(f"cannot open spot-check database '{self.path}': {e}") from None
            self._local.conn, self._local.pid = conn, os.getpid()
        yield conn

    @contextmanager
    def _write(self):
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")  # take the write lock up front: no lock-upgrade deadlocks
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # sessions ---------------------------------------------------------------------------------------------
    def create_session(self, session_id: str, title: str, source: str, media_kind: str,
                       pairs: list[Pair]) -> Session:
        check_session_id(session_id)
        if media_kind not in ("image", "video"):
            raise SpotcheckError(f"media kind {media_kind!r} unknown; known: image, video")
        if not pairs:
            raise SpotcheckError("a session needs at least one pair")
        title = " ".join(title.split())[:MAX_TITLE_CHARS]
        created = _now()
        with self._write() as db:
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", (session_id, title, created, source, media_kind))
            db.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [(session_id, p.index, p.prompt, p.seed, p.variant, p.reference, p.variant_media,
                             p.reference_media) for p in pairs])
        return Session(session_id, title, created, source, media_kind, tuple(pairs))

    def get_session(self, session_id: str) -> Session:
        session_id = check_session_id(session_id)
        with self._connection() as db:
            row = db.execute("SELECT id, title, created, source, media_kind FROM sessions WHERE id = ?",
                             (session_id,)).fetchone()
            if row is None:
                raise UnknownSessionError(session_id, f"unknown session '{session_id}' in {self.path}; "
                                          "list sessions with `python -m studio spotcheck list`")
            pairs = db.execute("SELECT pair_index, prompt, seed, variant, reference, variant_media, reference_media "
                               "FROM pairs WHERE session_id = ? ORDER BY pair_index", (session_id,)).fetchall()
        return Session(*row, pairs=tuple(Pair(*p) for p in pairs))

    def list_sessions(self) -> list[dict]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT s.id, s.title, s.created, s.media_kind,"
                " (SELECT COUNT(*) FROM pairs p WHERE p.session_id = s.id),"
                " (SELECT COUNT(*) FROM votes v WHERE v.session_id = s.id),"
                " (SELECT COUNT(DISTINCT rater_key) FROM votes v WHERE v.session_id = s.id)"
                " FROM sessions s ORDER BY s.created").fetchall()
        keys = ("id", "title", "created", "media_kind", "pairs", "votes", "raters")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def delete_session(self, session_id: str) -> int:
        """Delete a session with its pairs and votes; returns how many votes went with it."""
        self.get_session(session_id)
        with self._write() as db:
            n_votes = db.execute("SELECT COUNT(*) FROM votes WHERE session_id = ?", (session_id,)).fetchone()[0]
            db.execute("DELETE FROM votes WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM pairs WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return n_votes

    # votes --------------------------------------------------------------------------------------------------
    def add_vote(self, session_id: str, pair_index: int, rater: str, choice: str, shown_left: str,
                 comment: str = "") -> Vote:
        """Store one vote and commit it; DuplicateVoteError if this rater already voted on this pair."""
        if choice not in CHOICES:
            raise SpotcheckError(f"choice {choice!r} unknown; known: {', '.join(CHOICES)}")
        display, key = normalize_rater(rater)
        vote = Vote(session_id, int(pair_index), display, choice, shown_left, clean_comment(comment), _now())
        try:
            with self._write() as db:
                db.execute("INSERT INTO votes (session_id, pair_index, rater, rater_key, choice, shown_left, comment,"
                           " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (session_id, vote.pair_index, display, key, choice, shown_left, vote.comment,
                            vote.created))
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise DuplicateVoteError(f"rater '{display}' already voted on pair {pair_index + 1} of session "
                                         f"'{session_id}'; the first vote stands") from None
            raise SpotcheckError(f"no pair {pair_index} in session '{session_id}'") from None
        return vote

    def votes(self, session_id: str) -> list[Vote]:
        with self._connection() as db:
            rows = db.execute("SELECT session_id, pair_index, rater, choice, shown_left, comment, created FROM votes "
                              "WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
        return [Vote(*r) for r in rows]

    def rater_votes(self, session_id: str, rater: str) -> dict[int, Vote]:
        _, key = normalize_rater(rater)
        with self._connection() as db:
            rows = db.execute("SELECT session_id, pair_index, rater, choice, shown_left, comment, created FROM votes "
                              "WHERE session_id = ? AND rater_key = ?", (session_id, key)).fetchall()
        return {r[1]: Vote(*r) for r in rows}

    def export_csv(self, session_id: str, path: str | Path) -> int:
        """Write one row per vote with the pair's identities, prompt and seed; returns the number of rows."""
        session = self.get_session(session_id)
        pairs = {p.index: p for p in session.pairs}
        votes = self.votes(session.id)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["session", "pair", "prompt", "seed", "variant", "reference", "rater", "choice",
                            "preferred", "shown_left", "comment", "created"])
                for v in votes:
                    p = pairs[v.pair_index]
                    preferred = {"variant": p.variant, "reference": p.reference}.get(v.choice, "")
                    w.writerow([_csv_cell(x) for x in (session.id, v.pair_index, p.prompt, p.seed, p.variant,
                                p.reference, v.rater, v.choice, preferred, v.shown_left, v.comment, v.created)])
        except OSError as e:  # a parent that is a file, a folder at the path, no permission, a full disk
            raise SpotcheckError(f"cannot write the export to '{path}': {e.strerror or e}") from None
        return len(votes)
