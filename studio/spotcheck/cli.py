"""`python -m studio spotcheck ...`: create, list, read, export and delete spot-check sessions.

    python -m studio spotcheck create --from out/cmp [--pairs teacache:baseline] [--base-url URL]
    python -m studio spotcheck results --session ID [--json]
    python -m studio spotcheck export --session ID --out votes.csv
    python -m studio spotcheck delete --session ID
    python -m studio spotcheck list

The database is --db, else $STUDIO_SPOTCHECK_DB, else ~/.cache/speedup-studio/spotcheck.sqlite3.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from studio.cli_options import add_json
from studio.spotcheck.sessions import create_session_from_folders, session_link
from studio.spotcheck.stats import summarize
from studio.spotcheck.store import SpotcheckError, VoteStore, check_session_id, default_db_path
from studio.wording import counted

DEFAULT_BASE_URL = "http://127.0.0.1:7860/"
SESSION_HELP = "the session id, as create and list print it"


def add_parser(sub) -> None:
    p = sub.add_parser("spotcheck", help="blind A/B spot-check sessions (create, results, export, delete, list)")
    actions = p.add_subparsers(dest="spotcheck_action", required=True, parser_class=type(p))

    def with_db(q):
        q.add_argument("--db", default=None, help="SQLite file (default: $STUDIO_SPOTCHECK_DB or the user cache)")
        return q

    q = with_db(actions.add_parser("create", help="make a session from compare or bench output folders"))
    q.add_argument("--from", dest="sources", action="append", required=True, metavar="DIR",
                   help="a compare --out folder, a folder of them, or a bench output folder (repeatable)")
    q.add_argument("--pairs", default=None, help="VARIANT:REFERENCE,... (default: every variant vs the baseline)")
    q.add_argument("--title", default="", help="shown to voters and in the results (default: none)")
    q.add_argument("--base-url", default=DEFAULT_BASE_URL, help="the app's address, for the share link")
    q = with_db(actions.add_parser("results", help="win/tie/loss, Wilson intervals, verdicts, ranking, agreement"))
    q.add_argument("--session", required=True, help=SESSION_HELP)
    add_json(q, "the results")
    q = with_db(actions.add_parser("export", help="write every vote, with identities, to a CSV file"))
    q.add_argument("--session", required=True, help=SESSION_HELP)
    q.add_argument("--out", required=True, help="the CSV file to write")
    q = with_db(actions.add_parser("delete", help="delete a session and its votes"))
    q.add_argument("--session", required=True, help=SESSION_HELP)
    with_db(actions.add_parser("list", help="list sessions"))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def format_results(summary: dict) -> str:
    s = summary["session"]
    lines = [f"session {s['id']}: {s['title']}  ({counted(s['pairs'], 'pair')}, {counted(summary['votes'], 'vote')}, "
             f"{counted(summary['raters'], 'rater')})", "",
             f"{'variant':16s} {'reference':12s} {'win':>4s} {'tie':>4s} {'loss':>4s} {'bad':>4s} {'pref':>5s} "
             f"{'95% interval':>13s}  verdict"]
    for m in summary["matchups"]:
        interval = "-" if m["low"] is None else f"{_pct(m['low'])}-{_pct(m['high'])}"
        lines.append(f"{m['variant']:16s} {m['reference']:12s} {m['wins']:4d} {m['ties']:4d} {m['losses']:4d} "
                     f"{m['both_bad']:4d} {_pct(m['preference']):>5s} {interval:>13s}  {m['verdict']}"
                     + (f"  ({m['note']})" if m["note"] else ""))
    r = summary["ranking"]
    if r["variants"]:
        lines += ["", f"ranking: {r['method']}"]
        lines += [f"  {v['rank']}. {v['variant']:16s} strength {v['strength']:.2f}" for v in r["variants"]]
    a = summary["agreement"]
    kappa = "undefined" if a["fleiss_kappa"] is None else f"{a['fleiss_kappa']:.2f}"
    lines += ["", f"agreement over {counted(a['pairs_with_2plus_votes'], 'pair')} with 2+ votes: "
                  f"{_pct(a['percent'])} of rater pairs agree, Fleiss' kappa {kappa}"]
    b = summary["position_bias"]
    if b["decisive_votes"]:
        lines.append(f"left side picked in {_pct(b['left_share'])} of {b['decisive_votes']} decisive votes "
                     f"({_pct(b['low'])}-{_pct(b['high'])})" + ("  <- position bias" if b["flag"] else ""))
    return "\n".join(lines)


def run(args) -> int:
    """Raises SpotcheckError for bad input; studio.cli prints it in one line and exits 2."""
    try:
        return _run(args)
    except sqlite3.DatabaseError as e:  # e.g. --db names a file that is not a SQLite database
        raise SpotcheckError(f"spot-check database '{args.db or default_db_path()}': {e}") from None


def _run(args) -> int:
    store = VoteStore(args.db)
    action = args.spotcheck_action
    if action == "create":
        session = create_session_from_folders(store, args.sources, args.pairs, args.title)
        print(f"session {session.id}: {counted(len(session.pairs), 'pair')} ({session.media_kind}), {session.title}")
        print(f"share: {session_link(session.id, args.base_url)}")
    elif action == "results":
        summary = summarize(store, check_session_id(args.session))
        print(json.dumps(summary, indent=2) if args.json else format_results(summary))
    elif action == "export":
        out = Path(args.out)
        if out.is_dir():
            raise SpotcheckError(f"--out '{out}' is a folder; give a .csv file path")
        n = store.export_csv(check_session_id(args.session), out)
        print(f"wrote {counted(n, 'vote')} to {out}")
    elif action == "delete":
        n = store.delete_session(check_session_id(args.session))
        print(f"deleted session {args.session} and its {counted(n, 'vote')}")
    else:
        for s in store.list_sessions():
            print(f"{s['id']:12s} {s['created'][:19]} {s['media_kind']:5s} {s['pairs']:4d} pairs {s['votes']:5d} "
                  f"votes {s['raters']:3d} raters  {s['title']}")
    return 0
