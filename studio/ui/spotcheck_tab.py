"""The spot-check tab: a blind rating page and the results view. Handlers call studio.spotcheck only.

Mount it inside an open `gr.Blocks`, e.g.

    with gr.Blocks() as demo:
        with gr.Tabs() as tabs:
            with gr.Tab("Spot-check", id="spotcheck"):
                build_spotcheck_tab(tabs=tabs, tab_id="spotcheck")

A link `?spotcheck=<id>` fills in the session (and selects the tab when `tabs`/`tab_id` are given). Endpoints
for gradio_client: spotcheck_start, spotcheck_vote_{left,right,tie,both_bad} (the buttons), and the plain-data
ones spotcheck_next, spotcheck_vote, spotcheck_summary; spotcheck_results feeds the results view.
"""

from __future__ import annotations

import functools
import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.spotcheck import (
    DuplicateVoteError,
    SpotcheckError,
    UnknownSessionError,
    VoteStore,
    cast_vote,
    next_pair_for_rater,
    rater_reveal,
    session_link,
    summarize,
)
from studio.spotcheck.media import blind_copy
from studio.spotcheck.store import check_session_id
from studio.ui.links import base_url
from studio.wording import counted

CHOICE_LABELS = {  # choice -> (button text, keys that press it)
    "left": ("⬅ Left is better  [1]", ("1", "ArrowLeft")),
    "tie": ("= Same quality  [2]", ("2", "ArrowDown")),
    "right": ("Right is better ➡  [3]", ("3", "ArrowRight")),
    "both_bad": ("✗ Both bad  [4]", ("4",)),
}
BUTTON_IDS = {c: "spotcheck-" + c.replace("_", "-") for c in CHOICE_LABELS}
KEYMAP = {k: BUTTON_IDS[c] for c, (_, keys) in CHOICE_LABELS.items() for k in keys}

# Runs once in the browser: number keys / arrows press the choice buttons (not while typing in a text box), and
# the right video follows the left one so both play in sync.
_KEYS_JS = """
if (!window.__spotcheckKeys) {
  window.__spotcheckKeys = true;
  const keymap = __KEYMAP__;
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const id = keymap[e.key];
    const button = id && document.getElementById(id);
    if (!button || button.disabled || button.offsetParent === null) return;
    e.preventDefault();
    button.click();
  });
  setInterval(() => {
    const left = document.querySelector('#spotcheck-left-video video');
    const right = document.querySelector('#spotcheck-right-video video');
    if (!left || !right) return;
    left.muted = true; right.muted = true;
    if (left.paused && !right.paused) right.pause();
    if (!left.paused && right.paused) right.play().catch(() => {});
    // drift measured around the loop: 0.98 s vs 0.01 s on a 1 s clip is 0.03 s apart, not 0.97 s
    const d = left.duration || 0, gap = left.currentTime - right.currentTime;
    const drift = d > 0 ? ((gap % d) + 1.5 * d) % d - d / 2 : gap;
    if (Math.abs(drift) > 0.08) right.currentTime = left.currentTime;
  }, 200);
}
""".replace("__KEYMAP__", json.dumps(KEYMAP))

_SCROLL_TO_PAIR_JS = "() => document.getElementById('spotcheck-progress')?.scrollIntoView({block: 'start'})"

# On a phone gradio stacks a row's children, so "left" would be the top output and "right" the one a scroll below:
# there the pair stays side by side (each output about 155 px wide on a 390 px screen, under its label) and the
# left / right buttons share the row beneath it.
_KEYS_HTML = """<style>
.spotcheck-media img { width: 100% !important; height: 100% !important; object-fit: contain !important;
  image-rendering: pixelated; }
@media (max-width: 640px) {
  .spotcheck-pair {flex-wrap: nowrap !important;}
  .spotcheck-pair > * {min-width: 0 !important;}
  .spotcheck-pair > .block {height: auto !important;}
  .spotcheck-pair .image-container {padding-top: 36px;}
  .spotcheck-pair .image-container button, .spotcheck-pair .image-frame, .spotcheck-pair .spotcheck-media img,
  .spotcheck-pair video {width: 100% !important; height: auto !important; max-height: none !important;}
  .spotcheck-votes > * {flex: 1 1 40% !important; min-width: 0 !important;}
  #spotcheck-left {order: 1;} #spotcheck-right {order: 2;} #spotcheck-tie {order: 3;} #spotcheck-both-bad {order: 4;}
}
</style>
<div class="spotcheck-keys">Keys: <b>1</b> or ← left better · <b>2</b> or ↓ same · <b>3</b> or → right better ·
<b>4</b> both bad. The sides are shuffled for every pair; names are revealed after your last vote.</div>"""

RESULT_HEADERS = ["variant", "reference", "win", "tie", "loss", "both bad", "votes", "preference", "95% interval",
                  "verdict"]
# (header, rater_reveal key): the choice and the names first, the long prompt last, so a phone shows what matters
# without scrolling sideways
REVEAL_COLUMNS = [("#", "position"), ("your choice", "your_choice"), ("left", "left"), ("right", "right"),
                  ("comment", "comment"), ("prompt", "prompt")]

_stores: dict[str, VoteStore] = {}
_stores_lock = threading.Lock()


def store_for(db_path: str | Path | None) -> VoteStore:
    """One VoteStore per path (it holds no connection), created on first use, not at import or build time; the
    Compare page's session builder and this tab share it."""
    key = str(db_path or "")
    with _stores_lock:
        if key not in _stores:
            _stores[key] = VoteStore(db_path)
        return _stores[key]


@dataclass
class SpotcheckTab:
    """Handles on the tab's main components, for wiring by the app."""

    session: gr.Textbox
    rater: gr.Textbox
    link: gr.Markdown
    results_table: gr.Dataframe


def _errors_to_gradio(fn):
    @functools.wraps(fn)  # keeps the signature: gr.api builds its endpoint from it
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UnknownSessionError as e:  # a rater's words: the CLI hint in the message is not theirs to follow
            raise gr.Error(f"Session '{e.session_id}' does not exist here: it was deleted, or the link is from "
                           "another studio. Ask whoever shared the link for a new one.") from None
        except SpotcheckError as e:
            raise gr.Error(str(e)) from None

    return wrapper


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


class _Handlers:
    def __init__(self, db_path: str | Path | None):
        self.db_path = db_path

    def store(self) -> VoteStore:
        return store_for(self.db_path)

    # --- rating -------------------------------------------------------------------------------------------
    def page(self, session_id: str, rater: str, status: str = "") -> tuple:
        """Outputs: status, progress, left/right image, left/right video, pair index, choice buttons x4,
        comment, reveal table."""
        store = self.store()
        session_id = check_session_id(session_id)
        view = next_pair_for_rater(store, session_id, rater)
        if view is None:
            rows = rater_reveal(store, session_id, rater)
            reveal = [[r[key] for _, key in REVEAL_COLUMNS] for r in rows]
            done = f"**All {counted(len(rows), 'pair')} rated — thank you.** Here is what you were comparing:"
            hidden = gr.update(value=None, visible=False)
            buttons = [gr.update(interactive=False)] * 4
            return (status, done, hidden, hidden, hidden, hidden, -1, *buttons, gr.update(value=""),
                    gr.update(value=reveal, visible=True))
        left, right = blind_copy(view.left_media), blind_copy(view.right_media)
        video = view.media_kind == "video"
        progress = f"**Pair {view.position} of {view.total}** · prompt: *{view.prompt}* · seed {view.seed}"
        images = [gr.update(value=None if video else m, visible=not video) for m in (left, right)]
        videos = [gr.update(value=m if video else None, visible=video) for m in (left, right)]
        buttons = [gr.update(interactive=True)] * 4
        return (status, progress, *images, *videos, view.pair_index, *buttons, gr.update(value=""),
                gr.update(value=[], visible=False))

    def start(self, session_id: str, rater: str) -> tuple:
        return self.page(session_id, rater, "")

    def vote(self, choice: str, session_id: str, rater: str, pair_index: float | None, comment: str) -> tuple:
        if pair_index is None or pair_index < 0:
            raise SpotcheckError("no pair is open; press Start first")
        try:
            cast_vote(self.store(), check_session_id(session_id), int(pair_index), rater, choice, comment)
            status = f"Saved: {choice.replace('_', ' ')}."
        except DuplicateVoteError as e:  # a double press, or a second tab: the first vote stands, move on
            status = str(e)
        return self.page(session_id, rater, status)

    def link(self, session_id: str, request: gr.Request | None) -> str:
        if not session_id or not session_id.strip():
            return ""
        link = session_link(check_session_id(session_id), base_url(request))
        return f"Share this link with raters: [{link}]({link})"

    # --- results ------------------------------------------------------------------------------------------
    def results(self, session_id: str) -> tuple[str, list[list]]:
        summary = summarize(self.store(), check_session_id(session_id))
        return _results_markdown(summary), _results_rows(summary)

    def export(self, session_id: str):
        """The session's votes as CSV (what `spotcheck export` writes), shown for download."""
        session_id = check_session_id(session_id)
        path = Path(tempfile.mkdtemp(prefix="spotcheck-export-")) / f"spotcheck-{session_id}-votes.csv"
        self.store().export_csv(session_id, path)
        return gr.update(value=str(path), visible=True)

    # --- plain-data API (gradio_client) ---------------------------------------------------------------------
    def api_next(self, session_id: str, rater: str) -> dict:
        """The rater's next blind pair (no identities), or done=True with the reveal after the last vote."""
        store, session_id = self.store(), check_session_id(session_id)
        view = next_pair_for_rater(store, session_id, rater)
        if view is None:
            return {"done": True, "pair": None, "reveal": rater_reveal(store, session_id, rater)}
        return {"done": False, "reveal": None,
                "pair": {"pair_index": view.pair_index, "position": view.position, "total": view.total,
                         "prompt": view.prompt, "seed": view.seed, "media_kind": view.media_kind}}

    def api_vote(self, session_id: str, rater: str, pair_index: int, choice: str, comment: str = "") -> dict:
        """Store a vote (choice: left, right, tie, both_bad); returns whether it was stored and what comes next."""
        try:
            vote = cast_vote(self.store(), check_session_id(session_id), int(pair_index), rater, choice, comment)
            result = {"stored": True, "duplicate": False, "message": f"stored at {vote.created}"}
        except DuplicateVoteError as e:
            result = {"stored": False, "duplicate": True, "message": str(e)}
        return {**result, "next": self.api_next(session_id, rater)}

    def api_summary(self, session_id: str) -> dict:
        return summarize(self.store(), check_session_id(session_id))


def _results_rows(summary: dict) -> list[list]:
    rows = []
    for m in summary["matchups"]:
        interval = "-" if m["low"] is None else f"{_pct(m['low'])} – {_pct(m['high'])}"
        rows.append([m["variant"], m["reference"], m["wins"], m["ties"], m["losses"], m["both_bad"], m["n"],
                     _pct(m["preference"]), interval, m["verdict"]])
    return rows


def _results_markdown(summary: dict) -> str:
    s = summary["session"]
    lines = [f"**{s['title']}** — {counted(s['pairs'], 'pair')}, {counted(summary['votes'], 'vote')} from "
             f"{counted(summary['raters'], 'rater')}.",
             "Preference = (wins + half of ties and both-bad) ÷ votes. The verdict is *indistinguishable* when "
             "the Wilson 95% interval of the preference contains 50%."]
    lines += [f"- {m['variant']}: {m['note']}" for m in summary["matchups"] if m["note"]]
    r = summary["ranking"]
    if r["variants"]:
        ranking = ", ".join(f"{v['rank']}. {v['variant']} ({v['strength']:.2f})" for v in r["variants"])
        lines.append(f"\n**Ranking** — {ranking}  \n<small>{r['method']}</small>")
    a = summary["agreement"]
    if a["percent"] is None:
        lines.append("\n**Agreement** — needs two raters on the same pair")
    else:
        kappa = "undefined (one answer only)" if a["fleiss_kappa"] is None else f"{a['fleiss_kappa']:.2f}"
        lines.append(f"\n**Agreement** — {_pct(a['percent'])} of rater pairs agree, Fleiss' κ {kappa} "
                     f"(over {counted(a['pairs_with_2plus_votes'], 'pair')} with 2+ votes)")
    b = summary["position_bias"]
    if b["decisive_votes"]:
        warn = " — **raters favour one side**" if b["flag"] else ""
        lines.append(f"\n**Position check** — left picked in {_pct(b['left_share'])} of {b['decisive_votes']} "
                     f"decisive votes ({_pct(b['low'])} – {_pct(b['high'])}){warn}")
    return "\n".join(lines)


def build_spotcheck_tab(db_path: str | Path | None = None, tabs: gr.Tabs | None = None,
                        tab_id: str | None = None) -> SpotcheckTab:
    """Build the rating page and the results view in the current Blocks context.

    Args:
        db_path: the SQLite file (default: $STUDIO_SPOTCHECK_DB, else ~/.cache/speedup-studio/spotcheck.sqlite3).
        tabs, tab_id: when given, a `?spotcheck=ID` link also selects this tab on page load.
    """
    h = _Handlers(db_path)
    gr.Markdown("### Blind spot-check\nCompare two outputs of the same prompt and seed without knowing which "
                "variant made which. Open a session link (`?spotcheck=ID`) or paste its id.")
    gr.HTML(_KEYS_HTML, js_on_load=_KEYS_JS, elem_id="spotcheck-keys")
    saved_rater = gr.BrowserState("", storage_key="spotcheck-rater")
    with gr.Row():
        session = gr.Textbox(label="Session id", max_lines=1, max_length=40, elem_id="spotcheck-session")
        rater = gr.Textbox(label="Your name", max_lines=1, max_length=64, elem_id="spotcheck-rater")
        start = gr.Button("Start / resume", variant="primary", elem_id="spotcheck-start")
    link = gr.Markdown()
    progress = gr.Markdown(elem_id="spotcheck-progress")
    with gr.Row(equal_height=True, elem_classes="spotcheck-pair"):
        left_img = gr.Image(label="Left", type="filepath", interactive=False, height=360, buttons=["fullscreen"],
                            elem_id="spotcheck-left-image", elem_classes="spotcheck-media", visible=False)
        right_img = gr.Image(label="Right", type="filepath", interactive=False, height=360, buttons=["fullscreen"],
                             elem_id="spotcheck-right-image", elem_classes="spotcheck-media", visible=False)
        left_vid = gr.Video(label="Left", autoplay=True, loop=True, interactive=False, height=360,
                            elem_id="spotcheck-left-video", visible=False)
        right_vid = gr.Video(label="Right", autoplay=True, loop=True, interactive=False, height=360,
                             elem_id="spotcheck-right-video", visible=False)
    with gr.Row(elem_classes="spotcheck-votes"):
        buttons = {c: gr.Button(text, elem_id=BUTTON_IDS[c], interactive=False,
                                variant="secondary" if c in ("tie", "both_bad") else "primary")
                   for c, (text, _) in CHOICE_LABELS.items()}
    comment = gr.Textbox(label="Comment (optional, saved with your vote)", max_lines=3, max_length=2000)
    status = gr.Markdown(elem_id="spotcheck-status")
    pair = gr.Number(value=-1, precision=0, visible=False)
    reveal = gr.Dataframe(headers=[header for header, _ in REVEAL_COLUMNS], label="Your votes, identities revealed",
                          visible=False, interactive=False, wrap=True)
    with gr.Accordion("Results", open=False):
        show = gr.Button("Show results", elem_id="spotcheck-show-results")
        summary_md = gr.Markdown()
        table = gr.Dataframe(headers=RESULT_HEADERS, label="Per variant vs its reference", interactive=False,
                             wrap=True, elem_id="spotcheck-results-table")
        with gr.Row():
            export = gr.Button("Download the votes (CSV)", size="sm", scale=0, min_width=220)
            export_file = gr.File(label="Votes: one row per vote, identities revealed", interactive=False,
                                  height=60, visible=False)

    page_outputs = [status, progress, left_img, right_img, left_vid, right_vid, pair, *buttons.values(), comment,
                    reveal]
    start_event = gr.on([start.click, rater.submit], _errors_to_gradio(h.start), [session, rater], page_outputs,
                        api_name="spotcheck_start")
    start_event.then(lambda name: " ".join(str(name or "").split())[:64], rater, saved_rater,
                     api_visibility="private")
    start_event.then(_errors_to_gradio(h.link), session, link, api_name="spotcheck_link")
    # the first pair sits below the session fields, under the fold of a phone: bring it into view
    start_event.success(None, js=_SCROLL_TO_PAIR_JS, api_visibility="private", queue=False)
    for choice, button in buttons.items():
        def vote(session_id, rater_name, pair_index, comment_text, _choice=choice):
            return h.vote(_choice, session_id, rater_name, pair_index, comment_text)

        button.click(_errors_to_gradio(vote), [session, rater, pair, comment], page_outputs,
                     api_name=f"spotcheck_vote_{choice}", trigger_mode="once")
    show.click(_errors_to_gradio(h.results), session, [summary_md, table], api_name="spotcheck_results")
    export.click(_errors_to_gradio(h.export), session, export_file, api_name="spotcheck_export")

    def open_link(request: gr.Request):
        params = getattr(request, "query_params", {}) or {}
        session_id = str(params.get("spotcheck", "") or "").strip()
        try:
            text = h.link(session_id, request) if session_id else ""
        except SpotcheckError as e:
            text, session_id = f"The link's session id is not valid: {e}", ""
        if tabs is None:
            return session_id or gr.update(), text
        return session_id or gr.update(), text, gr.Tabs(selected=tab_id) if tab_id and session_id else gr.update()

    # On page load: the session from the link, then the rater name this browser used last time.
    gr.on(None, open_link, None, [session, link, *([tabs] if tabs is not None else [])],
          api_visibility="private", queue=False).then(
        lambda remembered, typed: typed or remembered or "", [saved_rater, rater], rater, api_visibility="private",
        queue=False)

    gr.api(_errors_to_gradio(h.api_next), api_name="spotcheck_next")
    gr.api(_errors_to_gradio(h.api_vote), api_name="spotcheck_vote")
    gr.api(_errors_to_gradio(h.api_summary), api_name="spotcheck_summary")
    return SpotcheckTab(session, rater, link, table)
