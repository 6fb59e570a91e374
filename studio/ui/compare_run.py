"""Compare's run: check a comparison, run it on the GPU lane and stream its view (status, cards, table, A/B, synced
video), cancel it, reopen a kept one, and write the starred variant's code. The page's layout and wiring are in
studio.ui.app; no model work here (the engine's stream does it).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from studio.deploy.zerogpu import gpu_task, on_zerogpu
from studio.engine.pool import engine_for, runnable_here
from studio.inputs import check_repeats, check_steps, parse_variants, variant_names
from studio.presets import PresetError, load_preset
from studio.sizes import parse_size
from studio.ui import compare_export, compare_history, lane, readouts
from studio.ui.ab_view import ab_view
from studio.ui.compare_code import recommended_code
from studio.ui.compare_form import CheckedForm, CompareForm, FormError, lpips_budget, price_per_hour
from studio.ui.presets_ui import preset_or_error
from studio.wording import counted

STATUS_EVERY_S = 0.25  # at most four progress refreshes a second: enough to feel live, cheap to send
_cancel_flags: dict[str, threading.Event] = {}


def _cancel_key(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "default"


def cancel(request: gr.Request = None) -> str:
    flag = _cancel_flags.get(_cancel_key(request))
    if flag is None:
        return readouts.status_html("Nothing is running.")
    flag.set()
    return readouts.status_html("Cancelling: the current step finishes, then the lane is free.")


def _checked(form: CompareForm, check_machine: bool = True) -> CheckedForm:
    """Everything a comparison checks before it runs, refused where this machine cannot run the preset."""
    p = preset_or_error(form.preset)
    ok, why = runnable_here(p) if check_machine else (True, "")
    if not ok:
        raise gr.Error(why)
    return _or_gradio_error(form.checked, p)


def _or_gradio_error(check, *args):
    """`check(*args)`, its refusal shown by the page as gr.Error."""
    try:
        return check(*args)
    except FormError as e:
        raise gr.Error(str(e)) from None


def queued_status(*inputs):
    """What the page shows between a click and the lane picking the run up (given the compare inputs): in the
    status, why the run will be refused or that it waits its turn, rather than the previous run's words; the
    previous comparison's download and code are hidden (stale)."""
    try:
        # on ZeroGPU the GPU is lent to the run itself, not to this process: the run checks the machine
        _checked(CompareForm.of(*inputs), check_machine=not on_zerogpu())
        text = ("Queued: another comparison or bench is running (one at a time); yours starts when it ends."
                if lane.in_use() else "Starting…")
    except gr.Error as e:
        text = f"Not run: {e.message}"
    stale = gr.update(value=None, visible=False)
    return readouts.status_html(text), stale, stale


def variant_code(state: dict | None, budget: float):
    """recommended.py for the last finished comparison's starred variant (within the LPIPS budget now set): the
    pipeline, weights, quantization, cache, steps and size it ran with."""
    report = compare_export.finished_report(state, "its code is ready")
    try:
        chosen, text = recommended_code(report, _or_gradio_error(lpips_budget, budget))
    except (ValueError, PresetError) as e:
        raise gr.Error(str(e)) from None
    return gr.update(value=text, visible=True, label=f"recommended.py: {chosen} (python recommended.py)")


def per_frame_chart(reports: list[dict]) -> pd.DataFrame:
    """Each variant's per-frame difference against the baseline, one line per variant (empty for images)."""
    return pd.DataFrame(readouts.per_frame_rows(reports), columns=readouts.PER_FRAME_COLUMNS)


def _gpu_seconds(*values, **_kw) -> int:
    """ZeroGPU duration for a compare request (its values, as compare's), sized from the preset, the variants and
    the output size (a default if unparsable)."""
    from studio.deploy.zerogpu import MAX_SECONDS, gpu_duration
    from studio.engine.request import size_request

    form = CompareForm.of(*values)
    try:
        p = load_preset(form.preset)
        return gpu_duration(p, parse_variants(p, variant_names(form.chosen, form.custom)),
                            steps=check_steps(form.steps), repeats=check_repeats(form.repeats),
                            **size_request(parse_size(p, form.size)))
    except Exception:  # bad input is reported by the handler itself; ask for the most time here
        return MAX_SECONDS


@gpu_task(_gpu_seconds)
def compare(name: str, prompt: str, seed: float, steps: float, chosen: list[str], custom: str, price: float,
            budget: float, repeats: float = 1, size: str = "", negative: str = "", history: str | None = None,
            request: gr.Request = None,
            progress=gr.Progress()):  # noqa: B008
    """Run the variants and stream: status, cards, summary table, A/B choices, synced video, per-frame chart.
    `history` (the page's state, not an API input): the folder finished comparisons are kept in."""
    from studio.engine.request import Generation
    from studio.engine.stream import Done, Finished, Progress, run_order, stream_compare

    checked = _checked(CompareForm(name, prompt, seed, steps, chosen, custom, price, budget, repeats, size, negative))
    p, setup, variants, price, budget = (checked.preset, checked.setup, checked.variants, checked.price,
                                         checked.budget)
    generation = Generation(setup.steps, parse_size(p, setup.size), setup.negative_prompt)
    prompt, seed, repeats = setup.prompt, setup.seed, setup.repeats
    flag = threading.Event()
    _cancel_flags[_cancel_key(request)] = flag
    engine = engine_for(p.name)
    ordered = run_order(engine, variants)
    reports: list[dict] = []
    outputs: dict[str, np.ndarray] = {}
    overlays: dict[str, str] = {}  # region-cache variants: recompute map per step (and frame)
    started = time.perf_counter()
    started_at = time.time()  # when the GPU lane picked this request up: shows queue order to API users
    last_status = 0.0

    run_name = compare_history.new_name(p.name, prompt)  # where it is kept once finished

    def snapshot(status: str, fraction: float | None, video=None, final=False):
        report = {"preset": p.name, "prompt": prompt, "seed": seed, "size": generation.size_text(p),
                  **({"negative_prompt": setup.negative_prompt} if setup.negative_prompt else {}),
                  "started_at": started_at, "variants": reports,
                  "complete": final, "repeats": repeats, "lpips_budget": budget, "price_per_hour": price}
        done = {r["slug"] for r in reports}
        return _view(p, report, outputs, overlays, price, budget, status, fraction, video, final,
                     [(v.name, v.slug) for v in ordered if v.slug not in done])

    with lane.busy():  # a request that arrives meanwhile says it waits, not that it starts
        yield snapshot(f"Starting {counted(len(ordered), 'variant')} on {p.title}…", 0.0)
        # more than one repeat runs in rounds over the variants (fair medians; the cards arrive after the last round)
        run_request = generation.request(prompt, seed, repeats=repeats, interleave=True)
        for event in stream_compare(engine, run_request, variants, flag):
            if isinstance(event, Progress):
                now = time.perf_counter()
                fraction = (event.index + event.step / event.steps) / event.total_variants
                progress(fraction, desc=f"{event.slug}: step {event.step}/{event.steps}")
                if now - last_status >= STATUS_EVERY_S:
                    last_status = now
                    yield snapshot(f"Variant {event.index + 1} of {event.total_variants}: {event.slug} — step "
                                   f"{event.step} of {event.steps}", fraction)
            elif isinstance(event, Finished):
                r = event.result
                reports.append(readouts_safe(r.to_report()))
                if r.output is not None:
                    outputs[r.slug] = r.output
                    overlay = readouts.region_overlay_uri(r.output, r.cache)
                    if overlay:
                        overlays[r.slug] = overlay
                yield snapshot(f"{event.index + 1} of {event.total_variants} done ({r.name}"
                               f"{' failed' if r.error else ''})", (event.index + 1) / event.total_variants)
            elif isinstance(event, Done):
                elapsed = time.perf_counter() - started
                video = _compose_video(reports, outputs) if p.media == "video" else None
                if event.cancelled:
                    finished = counted(len(reports), "variant")
                    yield snapshot(f"Cancelled after {elapsed:.1f} s; {finished} finished.", None, video, final=True)
                elif event.error:
                    raise gr.Error(f"the comparison stopped: {event.error}")
                else:
                    view = snapshot(f"Done in {elapsed:.1f} s: {readouts.count_text(reports)}"
                                    + readouts.verdict(reports, budget, repeats), 1.0, video, final=True)
                    if history:  # kept, so this browser (or an API caller, by `kept_as`) can reopen it later
                        view[-1]["run"] = view[3]["kept_as"] = run_name
                        # ZeroGPU runs this in a worker that may end with the run: there it is written before Done
                        save = compare_history.save if on_zerogpu() else compare_history.save_in_background
                        save(Path(history), run_name, view[3], outputs)
                    yield view
    _cancel_flags.pop(_cancel_key(request), None)


def _view(p, report: dict, outputs: dict, overlays: dict, price: float, budget: float, status: str,
          fraction: float | None, video=None, final: bool = False, pending: list[tuple[str, str]] = ()):
    """The compare outputs for a (running or finished) comparison: status, cards, summary table, report, A/B
    choices, synced video, per-frame chart, A/B view and the page's view state. `pending`: (name, slug) of the
    variants still to run."""
    reports = report["variants"]
    best = readouts.best_within_budget(reports, budget)
    cards = [readouts.card_html(r, readouts.media_uri(outputs.get(r["slug"])), price, r["slug"] == best, budget,
                                overlays.get(r["slug"])) for r in reports]
    cards += [readouts.pending_card_html(name, slug, "waiting in line") for name, slug in pending]
    table = pd.DataFrame([readouts.summary_row(r, price) for r in reports], columns=readouts.SUMMARY_COLUMNS)
    choices = [r["name"] for r in reports if r["slug"] in outputs and r["kind"] != "baseline"]
    # Gradio's LinePlot keeps the series (colours, legend) of the first data it draws until it is emptied, so
    # the chart stays empty while a run streams and is drawn once, complete, at the end
    frames = per_frame_chart(reports if p.media == "video" else []) if final else None
    view_state = {"outputs": outputs, "names": {r["name"]: r["slug"] for r in reports}, "media": p.media,
                  "report": report}  # the report too: a finished run can be collected for a spot-check
    ab = ab_view(choices[0], False, view_state) if final and choices else None
    return [readouts.status_html(status, fraction), readouts.grid_html(cards), table, report,
            gr.update(choices=choices, value=choices[0]) if final and choices else gr.update(choices=choices),
            video if video is not None else gr.skip(), frames, ab, view_state]


def open_comparison(name: str | None, price: float, budget: float, history: str):
    """A kept comparison (by name) back on the page, as it was when it finished, starred by the current budget."""
    if not name:
        raise gr.Error("Pick one of your earlier comparisons first.")
    try:
        report, outputs = compare_history.load(Path(history), name)
        p = load_preset(report["preset"])
    except (ValueError, PresetError) as e:
        raise gr.Error(str(e)) from None
    price, budget = _or_gradio_error(price_per_hour, price), _or_gradio_error(lpips_budget, budget)
    reports = report["variants"]
    overlays = {r["slug"]: uri for r in reports
                if (uri := readouts.region_overlay_uri(outputs.get(r["slug"]), r.get("cache")))}
    video = _compose_video(reports, outputs) if p.media == "video" else None
    status = (f"Opened your comparison of {compare_history.when(name)}: {readouts.count_text(reports)}"
              + readouts.verdict(reports, budget, report.get("repeats", 1)))
    view = _view(p, {**report, "complete": True}, outputs, overlays, price, budget, status, None, video, final=True)
    view[-1]["run"] = name
    return view


def remember_run(state: dict | None, mine: list | None):
    """After a run: this browser's list of kept comparisons, with the one just finished first. Nothing else here:
    the sooner the browser stores it, the smaller the window in which a reload forgets the run."""
    return compare_history.remember(mine, (state or {}).get("run"))


def list_mine(mine: list | None, history: str):
    """The page's list of this browser's kept comparisons (those still on the server)."""
    return gr.update(choices=compare_history.choices(Path(history), mine))


def readouts_safe(report: dict) -> dict:
    """A strict-JSON copy (infinite PSNR becomes "inf") for the page and the API."""
    from studio.metrics import json_safe

    return json_safe(report)


def _compose_video(reports: list[dict], outputs: dict[str, np.ndarray]) -> str | None:
    from studio.media import write_side_by_side

    clips = [(r["name"], outputs[r["slug"]]) for r in reports if r["slug"] in outputs]
    if not clips:
        return None
    path = Path(tempfile.mkdtemp(prefix="studio-video-")) / "side-by-side.mp4"
    return str(write_side_by_side(clips, path))
