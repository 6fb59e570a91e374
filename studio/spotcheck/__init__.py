"""Human spot-check sessions: blind A/B votes between variants, stored in SQLite, summarised with statistics.

    store = VoteStore()                                   # $STUDIO_SPOTCHECK_DB or ~/.cache/speedup-studio/...
    session = create_session_from_folders(store, ["out/cmp"])
    cast_vote(store, session.id, pair_index=0, rater="ana", choice="left")
    summary = summarize(store, session.id)                # Wilson intervals, verdicts, Bradley-Terry, agreement

This package never imports gradio (the rating page lives in studio/ui/spotcheck_tab.py).
"""

from studio.spotcheck.layout import pair_layout, rater_order
from studio.spotcheck.sessions import (
    SessionSource,
    cast_vote,
    create_session_from_folders,
    next_pair_for_rater,
    rater_reveal,
    session_link,
)
from studio.spotcheck.stats import summarize
from studio.spotcheck.store import (
    CHOICES,
    DuplicateVoteError,
    Pair,
    Session,
    SpotcheckError,
    UnknownSessionError,
    Vote,
    VoteStore,
    default_db_path,
)

__all__ = [
    "CHOICES", "DuplicateVoteError", "Pair", "Session", "SessionSource", "SpotcheckError", "UnknownSessionError",
    "Vote", "VoteStore", "cast_vote", "create_session_from_folders", "default_db_path", "next_pair_for_rater",
    "pair_layout", "rater_order", "rater_reveal", "session_link", "summarize",
]
