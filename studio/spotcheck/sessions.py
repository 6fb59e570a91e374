"""Build spot-check sessions from outputs, and the rater's side of one: next pair, vote, reveal at the end.

    session = create_session_from_folders(store, ["out/cmp"], pairs="teacache:baseline,naive4:baseline")
    print(session_link(session.id, "https://me-studio.hf.space"))   # https://me-studio.hf.space/?spotcheck=...
    view = next_pair_for_rater(store, session.id, "Ana")           # what Ana sees now (no identities)
    cast_vote(store, session.id, view.pair_index, "Ana", "left")
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from studio.spotcheck.layout import pair_layout, rater_order
from studio.spotcheck.sources import Output, read_outputs
from studio.spotcheck.store import Pair, Session, SpotcheckError, Vote, VoteStore, normalize_rater

VIEW_CHOICES = {"left": None, "right": None, "tie": "tie", "both_bad": "both_bad"}  # what a rater clicks
MAX_PAIRS = 5000
LINK_PARAM = "spotcheck"


@dataclass(frozen=True)
class SessionSource:
    """The outputs read from the --from folders, grouped by (prompt, seed)."""

    outputs: list[Output]

    @classmethod
    def from_folders(cls, folders: list[str | Path]) -> SessionSource:
        if not folders:
            raise SpotcheckError("no --from folder given")
        return cls([o for f in folders for o in read_outputs(f)])

    def groups(self) -> dict[tuple[str, int], dict[str, Output]]:
        grouped: dict[tuple[str, int], dict[str, Output]] = defaultdict(dict)
        for o in self.outputs:
            grouped[(o.prompt, o.seed)].setdefault(o.variant, o)  # a repeated (prompt, seed, variant): first wins
        return grouped

    def names(self) -> list[str]:
        return list(dict.fromkeys(o.variant for o in self.outputs))


def parse_pairs(text: str | None) -> list[tuple[str, str]] | None:
    """'teacache:baseline,naive4:int8' -> [('teacache', 'baseline'), ('naive4', 'int8')]; None/'' -> None."""
    if not text or not text.strip():
        return None
    pairs = []
    for item in (t.strip() for t in text.split(",")):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise SpotcheckError(f"pairs: {item!r} is malformed; write VARIANT:REFERENCE, e.g. distilled:naive4")
        if parts[0] == parts[1]:
            raise SpotcheckError(f"pairs: {item!r} compares a variant with itself")
        pairs.append((parts[0], parts[1]))
    return list(dict.fromkeys(pairs))


def _baseline_of(group: dict[str, Output]) -> str | None:
    for name, o in group.items():
        if o.kind == "baseline":
            return name
    return "baseline" if "baseline" in group else None


def build_pairs(source: SessionSource, wanted: list[tuple[str, str]] | None = None) -> list[Pair]:
    """Pairs on the same prompt and seed: every variant vs the baseline by default, else the `wanted` ones."""
    if not source.outputs:
        raise SpotcheckError("the --from folders hold no successful outputs with media")
    names = source.names()
    if wanted:
        unknown = sorted({n for pair in wanted for n in pair} - set(names))
        if unknown:
            raise SpotcheckError(f"the pairs name unknown variants {', '.join(unknown)}; known: {', '.join(names)}")
    pairs: list[Pair] = []
    for (prompt, seed), group in source.groups().items():
        if wanted is None:
            base = _baseline_of(group)
            if base is None:
                raise SpotcheckError(f"no baseline output for prompt {prompt!r} seed {seed}; name the pairs with "
                                     f"--pairs VARIANT:REFERENCE (known: {', '.join(names)})")
            todo = [(n, base) for n in group if n != base]
        else:
            todo = [(a, b) for a, b in wanted if a in group and b in group]
        for a, b in todo:
            va, vb = group[a], group[b]
            pairs.append(Pair(len(pairs), prompt, seed, a, b, va.media, vb.media))
    if not pairs:
        raise SpotcheckError("no pair found: the requested variants never share a prompt and seed"
                             if wanted else "only the baseline has outputs; compare it with at least one variant")
    if len(pairs) > MAX_PAIRS:
        raise SpotcheckError(f"{len(pairs)} pairs; at most {MAX_PAIRS} per session (name fewer pairs)")
    return pairs


def _media_kind(source: SessionSource, pairs: list[Pair]) -> str:
    kinds = {o.media_kind for o in source.outputs if o.media in {m for p in pairs for m in
                                                                  (p.variant_media, p.reference_media)}}
    if len(kinds) != 1:
        raise SpotcheckError("the pairs mix images and videos; make one session per media kind")
    return kinds.pop()


def new_session_id() -> str:
    """11 characters, 64 random bits: unguessable enough for a share link. Never starting with '-' or '_': a command
    line reads `--session -eLA…` as an option (it failed a CI run once in about 60)."""
    while True:
        session_id = secrets.token_urlsafe(8)
        if session_id[0].isalnum():
            return session_id


def create_session_from_folders(store: VoteStore, folders: list[str | Path], pairs: str | None = None,
                                title: str = "") -> Session:
    """Read compare/bench folders, pair the outputs, store a new session and return it."""
    source = SessionSource.from_folders(folders)
    built = build_pairs(source, parse_pairs(pairs))
    kind = _media_kind(source, built)
    variants = list(dict.fromkeys(p.variant for p in built))
    title = title or f"{', '.join(variants)} vs {', '.join(dict.fromkeys(p.reference for p in built))}"
    source_text = "; ".join(str(Path(f).resolve()) for f in folders)
    return store.create_session(new_session_id(), title, source_text, kind, built)


def session_link(session_id: str, base_url: str = "") -> str:
    """The share link: the app's address with ?spotcheck=ID (just the query when no base is known)."""
    base = (base_url or "").split("?")[0].split("#")[0]
    if base and not base.endswith("/"):
        base += "/"
    return f"{base}?{LINK_PARAM}={session_id}"


# The rater's side --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairView:
    """One blind pair as a rater sees it: no identities."""

    pair_index: int
    position: int  # 1-based: "position of total"
    total: int
    prompt: str
    seed: int
    left_media: str
    right_media: str
    media_kind: str


def rater_progress(store: VoteStore, session: Session, rater: str) -> tuple[list[int], dict[int, Vote]]:
    _, key = normalize_rater(rater)
    return rater_order(session.id, len(session.pairs), key), store.rater_votes(session.id, rater)


def next_pair_for_rater(store: VoteStore, session_id: str, rater: str) -> PairView | None:
    """The first pair in this rater's order that they have not voted on; None when they are done."""
    session = store.get_session(session_id)
    _, key = normalize_rater(rater)
    order, done = rater_progress(store, session, rater)
    for index in order:
        if index not in done:
            p = session.pairs[index]
            left, _ = pair_layout(session.id, index, key, p.variant, p.reference)
            media = (p.variant_media, p.reference_media) if left == p.variant else (p.reference_media,
                                                                                      p.variant_media)
            return PairView(index, len(done) + 1, len(order), p.prompt, p.seed, *media, session.media_kind)
    return None


def resolve_choice(session: Session, pair_index: int, rater_key: str, view_choice: str) -> tuple[str, str]:
    """(stored choice, label shown on the left) for a click of left / right / tie / both_bad."""
    if view_choice not in VIEW_CHOICES:
        raise SpotcheckError(f"choice {view_choice!r} unknown; known: {', '.join(VIEW_CHOICES)}")
    if isinstance(pair_index, bool) or not isinstance(pair_index, int) or not 0 <= pair_index < len(session.pairs):
        raise SpotcheckError(f"pair {pair_index!r} is not in session '{session.id}' "
                             f"(pairs 0 to {len(session.pairs) - 1})")
    p = session.pairs[pair_index]
    left, right = pair_layout(session.id, pair_index, rater_key, p.variant, p.reference)
    if view_choice in ("left", "right"):
        picked = left if view_choice == "left" else right
        return ("variant" if picked == p.variant else "reference"), left
    return VIEW_CHOICES[view_choice], left


def cast_vote(store: VoteStore, session_id: str, pair_index: int, rater: str, choice: str,
              comment: str = "") -> Vote:
    """Record a rater's click (left / right / tie / both_bad) on a pair; committed before it returns."""
    session = store.get_session(session_id)
    _, key = normalize_rater(rater)
    stored, shown_left = resolve_choice(session, pair_index, key, choice)
    return store.add_vote(session.id, pair_index, rater, stored, shown_left, comment)


def rater_reveal(store: VoteStore, session_id: str, rater: str) -> list[dict]:
    """After the rater's last vote: each pair with what sat left and right and what they preferred.
    Refused while pairs remain, so identities never reach a rater mid-session."""
    session = store.get_session(session_id)
    _, key = normalize_rater(rater)
    order, done = rater_progress(store, session, rater)
    if len(done) < len(order):
        raise SpotcheckError(f"identities are revealed after the last vote; {len(order) - len(done)} pairs left")
    rows = []
    for position, index in enumerate(order, 1):
        p, v = session.pairs[index], done[index]
        left, right = pair_layout(session.id, index, key, p.variant, p.reference)
        preferred = {"variant": p.variant, "reference": p.reference, "tie": "tie", "both_bad": "both bad"}[v.choice]
        rows.append({"position": position, "prompt": p.prompt, "left": left, "right": right,
                     "your_choice": preferred, "comment": v.comment})
    return rows
