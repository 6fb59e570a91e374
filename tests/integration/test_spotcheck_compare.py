"""A session from a real `python -m studio compare` output on the embedded image model (2 variants)."""

import re

from studio.cli import main
from studio.spotcheck import VoteStore, cast_vote, next_pair_for_rater, summarize


def test_session_from_a_real_comparison(tmp_path, capsys):
    out, db = tmp_path / "cmp", str(tmp_path / "spot.sqlite3")
    assert main(["compare", "--preset", "tiny-image", "--prompt", "a large red circle at the top left", "--seed", "3",
                 "--variants", "baseline,naive4", "--out", str(out)]) == 0
    assert main(["spotcheck", "create", "--from", str(out), "--db", db]) == 0
    session_id = re.search(r"\?spotcheck=([A-Za-z0-9_-]+)", capsys.readouterr().out).group(1)
    store = VoteStore(db)
    session = store.get_session(session_id)
    assert len(session.pairs) == 1 and session.media_kind == "image"
    pair = session.pairs[0]
    assert (pair.variant, pair.reference, pair.seed) == ("naive4", "baseline", 3)
    assert pair.prompt == "a large red circle at the top left"
    assert pair.variant_media == str((out / "naive4.png").resolve())
    view = next_pair_for_rater(store, session_id, "ana")
    assert {view.left_media, view.right_media} == {pair.variant_media, pair.reference_media}
    cast_vote(store, session_id, view.pair_index, "ana", "left")
    assert summarize(store, session_id)["matchups"][0]["n"] == 1
