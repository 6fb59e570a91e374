"""The pages' way into a blind spot-check: collect finished comparisons (or take a finished bench), create a session.

A session needs the same variants on several prompts; the CLI builds one from `compare --out` folders, and this
does the same from the page, so a team on a hosted app needs no shell. Handlers only save and call
studio.spotcheck; the model work was done by the comparison.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import gradio as gr

from studio.engine.report import write_compare_folder
from studio.spotcheck import SpotcheckError, create_session_from_folders, session_link
from studio.ui.compare_export import finished_report
from studio.ui.links import base_url
from studio.ui.spotcheck_tab import store_for
from studio.wording import counted

MAX_COLLECTED = 50  # comparisons in one session: a rater's evening, not a benchmark


def collection_text(collected: list[dict]) -> str:
    if not collected:
        return "Nothing collected yet."
    prompts = len({(c["prompt"], c["seed"]) for c in collected})
    lines = [f"**{counted(len(collected), 'comparison')} collected** "
             f"({counted(prompts, 'prompt/seed pair')}, {collected[0]['media']}s):"]
    lines += [f"- *{c['prompt']}* · seed {c['seed']} · {', '.join(c['variants'])}" for c in collected]
    return "\n".join(lines)


def make_collect(root: Path):
    def collect(state: dict | None, collected: list[dict] | None):
        """Save the finished comparison's outputs and add it to this browser's collection."""
        collected = list(collected or [])
        report = finished_report(state, "its results can be collected")
        finished = [v for v in report["variants"] if v["slug"] in state["outputs"]]
        if not any(v["kind"] == "baseline" for v in finished):
            raise gr.Error("This comparison has no baseline output (it failed), so raters would have nothing to "
                           "compare against.")
        variants = [v["name"] for v in finished if v["kind"] != "baseline"]
        if not variants:
            raise gr.Error("Only the baseline finished: choose at least one variant to spot-check against it.")
        if collected and collected[0]["media"] != state["media"]:
            raise gr.Error(f"The collection holds {collected[0]['media']} comparisons and a session is all images or "
                           f"all videos: create that session first, or clear the collection.")
        run = [report["prompt"], report["seed"], report.get("started_at")]
        if any(c.get("run") == run for c in collected):
            raise gr.Error("This comparison is already collected: run another prompt or seed, then collect it.")
        if len(collected) >= MAX_COLLECTED:
            raise gr.Error(f"At most {MAX_COLLECTED} comparisons in one session: create this one first.")
        folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        write_compare_folder(folder, report, state["outputs"])
        collected.append({"folder": str(folder), "prompt": report["prompt"], "seed": report["seed"],
                          "media": state["media"], "variants": variants, "run": run})
        return collected, collection_text(collected)

    return collect


def created_message(session, request: gr.Request | None, after: str = "") -> str:
    link = session_link(session.id, base_url(request))
    pairs = len(session.pairs)
    return (f"**Session `{session.id}` created**: {counted(pairs, 'pair')} ({session.title}). "
            f"Share this link with raters: [{link}]({link}) — it opens the Spot-check tab, where the results are "
            f"too.{after}")


PAIRS_LABEL = "Pairs to rate (optional; VARIANT:REFERENCE, comma-separated)"
PAIRS_HINT = "default: each variant against the baseline; e.g. distilled:naive4 for the student against naive few-step"


def make_create(db_path: Path | None):
    def create(collected: list[dict] | None, pairs: str | None = None, request: gr.Request = None):
        """A blind session from the collected comparisons: every variant against the baseline per prompt, or the
        named pairs (e.g. "distilled:naive4")."""
        if not collected:
            raise gr.Error("Nothing collected yet: run a comparison, then press 'Collect this comparison'.")
        try:
            session = create_session_from_folders(store_for(db_path), [c["folder"] for c in collected], pairs)
        except SpotcheckError as e:
            raise gr.Error(str(e)) from None
        return [], created_message(session, request, " Nothing is collected now.")

    return create


def make_create_from_bench(db_path: Path | None):
    def create_from_bench(bench_dir: str | None, pairs: str | None = None, request: gr.Request = None) -> str:
        """A blind session from the last finished bench: every variant against the baseline on every prompt, or
        the named pairs."""
        if not bench_dir:
            raise gr.Error("Run a benchmark first: a session is made from its finished results.")
        try:
            session = create_session_from_folders(store_for(db_path), [bench_dir], pairs)
        except SpotcheckError as e:
            raise gr.Error(str(e)) from None
        return created_message(session, request)

    return create_from_bench


def clear():
    """Empty this browser's collection (the saved media stay on disk)."""
    return [], collection_text([])
