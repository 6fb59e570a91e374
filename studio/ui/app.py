"""The studio page: pick a preset and variants, generate, and watch results stream in side by side.

UI code never does model work: handlers check input, hand a request to the engine's stream, and turn the
events into readouts (studio.ui.readouts). One GPU lane: every generation shares concurrency id "gpu" with
limit 1, so requests queue in order.
"""

from __future__ import annotations

import html
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from studio import pricing
from studio.config import Settings
from studio.deploy.zerogpu import gpu_task, on_zerogpu
from studio.engine.pool import engine_for, runnable_here, warm_up
from studio.inputs import (
    InputError,
    check_prompt,
    check_repeats,
    check_steps,
    parse_variants,
    takes_negative_prompt,
    variant_names,
)
from studio.presets import PresetError, is_user_preset, list_presets, load_preset
from studio.sizes import allowed_text, default_size, parse_size
from studio.ui import compare_export, compare_history, lane, links, readouts, spotcheck_collect
from studio.ui.ab_view import ab_view, reference_choices
from studio.ui.compare_code import recommended_code
from studio.ui.compare_form import (
    COMPARE_FIELDS,
    SETUP_FIELDS,
    CheckedForm,
    CompareForm,
    FormError,
    lpips_budget,
    price_per_hour,
)
from studio.ui.presets_ui import preset_choices, preset_or_error
from studio.wording import counted

STATUS_EVERY_S = 0.25  # at most four progress refreshes a second: enough to feel live, cheap to send
_cancel_flags: dict[str, threading.Event] = {}


def all_variant_names() -> list[str]:
    """Every preset's variant names: the API accepts any of them before a page has narrowed the list."""
    names: dict[str, None] = {}
    for preset in list_presets():
        names.update(dict.fromkeys(load_preset(preset).variants))
    return list(names)


def describe_preset(name: str):
    """Preset facts, its variants (as choices), an example prompt, and whether the video-only panels show."""
    from studio.tiny.language import EXAMPLE_IMAGE_PROMPTS, EXAMPLE_VIDEO_PROMPTS, vocabulary_text

    p = preset_or_error(name)
    lines = [f"**{p.title}** · {p.media} · {p.steps} steps · {p.width}×{p.height}"
             + (f" · {p.frames} frames" if p.media == "video" else ""), f"Needs: {p.requirements}"]
    if is_user_preset(p.name):  # the file's name only: a public page need not show the server's folders
        model = "a local folder" if p.is_local else f"`{p.source}`"
        lines.append(f"One of your presets (`{p.name}.toml` in STUDIO_PRESETS_DIR): the model at {model}.")
    ok, why = runnable_here(p)
    if not ok:
        lines.append(f"⚠️ {why}")
    if p.trust_remote_code:  # set per preset by its author, never by default: the user must know
        lines.append("⚠️ This preset runs code from its model repository (`trust_remote_code = true`).")
    if p.pipeline == "tiny":
        lines.append(f"**Prompt language:** {vocabulary_text()}")
    choices = list(p.variants)
    lines.append("<details><summary>What each variant is</summary>\n\n" + "\n".join(
        f"- **{v}** `{variant.slug}`" + (f": {p.notes[v]}" if v in p.notes else "")
        for v, variant in p.variants.items()) + "\n</details>")
    examples = EXAMPLE_VIDEO_PROMPTS if p.media == "video" else EXAMPLE_IMAGE_PROMPTS
    prompt = examples[0] if p.pipeline == "tiny" else "a photo of a red fox in the snow"
    video = gr.update(visible=p.media == "video")  # the side-by-side clip and the per-frame chart
    weights = gr.update(choices=["base", *p.weights], value="base")  # the builder offers this preset's weights
    samples = gr.Dataset(samples=[[x] for x in examples] if p.pipeline == "tiny" else [], visible=p.pipeline == "tiny")
    chosen = gr.update(choices=choices, value=list(p.default_variants))
    hint = allowed_text(p) + ("; adherence is scored at the trained size only" if p.pipeline == "tiny" else "")
    size = gr.update(value="", placeholder=default_size(p), info=hint)
    negative = gr.update(value="", visible=takes_negative_prompt(p))  # the pipelines that would not ignore it
    return "\n\n".join(lines), chosen, prompt, video, video, weights, samples, size, negative


def open_setup(name: str, request: gr.Request = None):
    """On page load: describe the preset, with a shared setup link's inputs filled in (and what it left out said).

    Outputs: the preset, describe_preset's nine, then seed, steps, repeats, custom variants and the status."""
    setup = links.read_setup(getattr(request, "query_params", None) or {}, name)
    listed = preset_choices()  # read afresh: a preset of yours added since the start is listed now
    if setup is None:
        return gr.update(choices=listed), *describe_preset(name), *[gr.skip()] * 5
    info, chosen, prompt, *rest, size, negative = describe_preset(setup.preset)
    if setup.size:
        size["value"] = setup.size
    if setup.negative_prompt:
        negative["value"] = setup.negative_prompt
    custom = gr.skip()
    if setup.variants:
        named, custom = setup.chosen_and_custom(chosen["choices"])
        chosen = gr.update(choices=chosen["choices"], value=named)
    message = "Opened a shared setup: press Generate to run it."
    if setup.problems:
        message += " Left out of the link: " + "; ".join(setup.problems) + "."
    return (gr.update(choices=listed, value=setup.preset), info, chosen, setup.prompt or prompt, *rest, size, negative,
            *[gr.skip() if value is None else value for value in (setup.seed, setup.steps, setup.repeats)],
            custom, readouts.status_html(message))


def share_setup(name: str, prompt: str, seed, steps, chosen: list[str], custom: str, repeats=1, size="",
                negative="", request: gr.Request = None):
    """A link that opens Compare with these inputs, and the same comparison as a command."""
    try:
        setup = CompareForm.of_setup(name, prompt, seed, steps, chosen, custom, repeats, size, negative).setup()
    except (InputError, PresetError) as e:
        raise gr.Error(str(e)) from None
    link = links.setup_link(setup, links.base_url(request))
    return gr.update(visible=True, value=(
        f"**Link to this setup** (opens Compare with these inputs; nothing runs until Generate is pressed): "
        f"[{link}]({link})\n\nThe same comparison from the command line:\n"
        + links.code_block(links.setup_command(setup))))


def check_prompt_words(name: str, prompt: str) -> str:
    """Flags words the embedded model does not know, before anything runs."""
    p = preset_or_error(name)
    if p.pipeline != "tiny" or not prompt:
        return ""
    from studio.tiny.language import unknown_words

    unknown = unknown_words(prompt)  # the words come from the prompt, which a shared link can set: escaped
    if unknown:
        return (f'<span class="unknown">Unknown to the embedded model: <b>{html.escape(", ".join(unknown))}</b> — '
                "use the words listed above.</span>")
    try:
        check_prompt(p, prompt)
    except InputError as e:
        return f'<span class="unknown">{html.escape(str(e))}</span>'
    return "✓ every word is in the prompt language"


def build_variant(name: str, weights: str, quant: str, cache: str, value: float, steps: float, current: str) -> str:
    """Append a stacked recipe's slug to the custom-variants box, once the preset accepts it."""
    p = preset_or_error(name)
    try:
        steps = check_steps(steps)
        parts = [weights if weights != "base" else "", quant if quant != "none" else "",
                 f"{cache}{value:g}" if cache != "none" else "", f"s{steps}" if steps else ""]
        slug = "-".join(part for part in parts if part) or "baseline"
        p.variant(slug)  # the preset's own check: its named weights, the quantizers and caches it can apply
    except (InputError, PresetError) as e:
        raise gr.Error(str(e)) from None
    existing = [s.strip() for s in (current or "").split(",") if s.strip()]
    return ", ".join(dict.fromkeys([*existing, slug]))


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


def _price_row_here() -> str:
    """The price table's row for the hardware this app runs on (the cards' times are measured there), else an H100."""
    from studio.engine.runner import default_device, hardware_name

    return pricing.row_or_default(hardware_name(default_device()))


def build_demo(settings: Settings | None = None, warm: bool = True) -> gr.Blocks:
    from studio.tiny.language import EXAMPLE_IMAGE_PROMPTS

    settings = settings or Settings.from_env(check_presets=True)
    start_preset = settings.default_preset if settings.default_preset in list_presets() else "tiny-image"

    with gr.Blocks(title="Speed-Up Studio", fill_width=True) as demo:  # 17 summary columns need the room
        gr.Markdown("# Speed-Up Studio\nOne model, its speed-ups side by side: quantized, cached, distilled and "
                    "stacked variants on the same prompt and seed, with latency, memory and LPIPS against the "
                    "baseline. The embedded models run on any CPU.")
        with gr.Tabs() as tabs, gr.Tab("Compare", id="compare"):
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    preset = gr.Dropdown(preset_choices(), value=start_preset, label="Model preset")
                    # one line that grows to four: Enter runs the comparison (in a two-line box it adds a newline)
                    prompt = gr.Textbox(label="Prompt", lines=1, max_lines=4, max_length=2000)
                    # shown for the pipelines that take one (describe_preset); FLUX's would be ignored
                    negative = gr.Textbox("", label="Negative prompt", lines=1, max_lines=3, max_length=2000,
                                          visible=False)
                    prompt_check = gr.HTML()
                    # under the prompt, where a first visit sees it without scrolling past the settings below
                    with gr.Row():
                        run = gr.Button("Generate", variant="primary", scale=2, min_width=120)
                        stop = gr.Button("Cancel", variant="stop", scale=1, min_width=90)
                    examples = gr.Examples([[x] for x in EXAMPLE_IMAGE_PROMPTS], inputs=[prompt],
                                           label="Example prompts")  # the preset's own: set with the preset
                    info = gr.Markdown()  # the preset: what it needs, its prompt language, what each variant is
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, label="Seed")
                        steps = gr.Number(value=None, precision=0, label="Steps (0 = preset's)")
                    with gr.Row():
                        repeats = gr.Number(value=1, precision=0, minimum=1, maximum=5,
                                            label="Repeats (rounds, medians)")
                        # speed-ups depend on the size (a step's cost grows with its tokens): compare at yours
                        size = gr.Textbox("", label="Size (W×H, video W×H×frames)", max_lines=1, max_length=20)
                    first = list(load_preset(start_preset).default_variants)
                    chosen = gr.CheckboxGroup(all_variant_names(), value=first, label="Variants (baseline always runs)")
                    with gr.Accordion("Variant builder: stack your own", open=False):
                        with gr.Row():
                            # the preset's weights are set on load; build_variant checks what an API caller sends
                            b_weights = gr.Dropdown(["base"], value="base", label="Weights", allow_custom_value=True)
                            b_quant = gr.Dropdown(["none", "int8wo", "int8dq", "int4wo", "fp8wo", "fp8dqrow"],
                                                  value="none", label="Quantization")
                        with gr.Row():
                            b_cache = gr.Dropdown(["none", "tea", "fbc"], value="none", label="Cache")
                            b_value = gr.Slider(0.01, 1.0, value=0.15, step=0.01, label="Cache threshold")
                            b_steps = gr.Number(value=None, precision=0, label="Steps", minimum=0)
                        b_add = gr.Button("Add to custom variants", size="sm")
                    custom = gr.Textbox(label="Custom variants (slugs, comma-separated)",
                                        placeholder="e.g. int8wo-tea0.1, s8")
                    with gr.Row():
                        here = _price_row_here()
                        gpu = gr.Dropdown(list(pricing.PRICES), value=here, label="Price as if on")
                        price = gr.Number(value=pricing.PRICES[here], label="$ per hour")
                    budget = gr.Slider(0.01, 0.6, value=0.1, step=0.01, label="Quality budget: LPIPS ≤")
                with gr.Column(scale=3):
                    status = gr.HTML(readouts.status_html("Ready."))
                    grid = gr.HTML(elem_id="result-grid")
                    summary = gr.Dataframe(headers=readouts.SUMMARY_COLUMNS, interactive=False, wrap=True,
                                           label="Summary (click a header to sort)")
                    with gr.Row():
                        download_button = gr.Button("Download this comparison (.zip)", size="sm", scale=0,
                                                    min_width=240)
                        download = gr.File(label="Comparison: report.json and each variant's media",
                                           interactive=False, height=60, visible=False)  # shown once made
                        share_button = gr.Button("Link to this setup", size="sm", scale=0, min_width=180)
                        code_button = gr.Button("Code for the ★ variant", size="sm", scale=0, min_width=200)
                    shared = gr.Markdown(visible=False)
                    code = gr.Code(language="python", visible=False, interactive=False)  # shown once asked for
                    with gr.Column(visible=False) as video_box:  # a label badge would cover the first clips' names
                        gr.Markdown("**Videos side by side** (one clip: always in sync)")
                        video = gr.Video(show_label=False, autoplay=True, loop=True, height=260)
                    with gr.Row():
                        with gr.Column():
                            with gr.Row():
                                ab_choice = gr.Dropdown([], label="A/B: this variant (right)")
                                # its choices follow each run in the browser; an API caller may name any variant
                                # the run finished (ab_view checks)
                                ab_against = gr.Dropdown(["baseline"], value="baseline", label="against (left)",
                                                         allow_custom_value=True)
                            heat = gr.Checkbox(label="Show the difference heatmap instead")
                            slider = gr.ImageSlider(label="against | variant", height=400, type="numpy")
                        with gr.Column():
                            frame, difference, _ = readouts.PER_FRAME_COLUMNS
                            frames_plot = gr.LinePlot(x=frame, y=difference, color="variant",
                                                      label="Per-frame difference vs baseline (video)")
                    with gr.Accordion("Blind spot-check of these results", open=False):
                        gr.Markdown("Collect finished comparisons (several prompts, the same variants), then create "
                                    "a session: raters vote on each variant against the baseline (or on the pairs "
                                    "you name) without knowing which is which, on the Spot-check tab.")
                        collection = gr.Markdown(spotcheck_collect.collection_text([]))
                        pairs = gr.Textbox(label=spotcheck_collect.PAIRS_LABEL,
                                           placeholder=spotcheck_collect.PAIRS_HINT)
                        with gr.Row():
                            collect_button = gr.Button("Collect this comparison", size="sm")
                            create_button = gr.Button("Create session", variant="primary", size="sm")
                            clear_button = gr.Button("Clear", size="sm")
                        collected = gr.State([])
                    with gr.Accordion("Your earlier comparisons (this browser)", open=False):
                        with gr.Row():
                            # any kept name is accepted from an API caller; open_comparison checks it
                            earlier = gr.Dropdown([], label="Finished here, newest first (kept on the server)",
                                                  allow_custom_value=True, scale=3)
                            open_earlier = gr.Button("Open", size="sm", scale=1)
                    with gr.Accordion("Raw report (JSON, as the API returns it)", open=False):
                        report = gr.JSON()
            state = gr.State()
            # outside any accordion: a closed one is not rendered, and its browser state would never be stored
            # this browser's kept comparisons; a fixed secret (gradio draws one per start) keeps the list readable
            # after the app restarts; it holds folder names only
            mine = gr.BrowserState([], storage_key="studio-compare-runs", secret="studio-compare-runs")
            history = gr.State(str(settings.runs_dir / "compare"))  # where they are kept

        with tabs:
            with gr.Tab("Benchmark", id="bench"):
                from studio.ui.bench_tab import build_bench_tab

                bench_preset = build_bench_tab(out_root=settings.runs_dir / "bench",
                                               spotcheck_db=settings.spotcheck_db)
            with gr.Tab("Spot-check", id="spotcheck"):
                from studio.ui.spotcheck_tab import build_spotcheck_tab

                build_spotcheck_tab(db_path=settings.spotcheck_db, tabs=tabs, tab_id="spotcheck")

        described = [info, chosen, prompt, video_box, frames_plot, b_weights, examples.dataset, size, negative]
        # .input, not .change: a setup link sets the preset on load, and must keep the link's prompt and variants
        preset.input(describe_preset, preset, described, api_name="preset_info")
        demo.load(open_setup, preset, [preset, *described, seed, steps, repeats, custom, status], api_name=False)
        form = {"preset": preset, "prompt": prompt, "seed": seed, "steps": steps, "chosen": chosen, "custom": custom,
                "price": price, "budget": budget, "repeats": repeats, "size": size, "negative": negative}
        setup_inputs = [form[name] for name in SETUP_FIELDS]
        share_button.click(share_setup, setup_inputs, shared, api_name="share_setup", queue=False)
        gr.on([c.change for c in setup_inputs],  # a shown link is stale now
              lambda: gr.update(visible=False), None, shared, api_visibility="private", queue=False)
        prompt.change(check_prompt_words, [preset, prompt], prompt_check, api_name="check_prompt",
                      show_progress="hidden")
        gpu.change(lambda g: pricing.PRICES.get(g, 1.0), gpu, price, api_name="gpu_price")
        download_button.click(compare_export.download_comparison, state, download, api_name="download_comparison")
        code_button.click(variant_code, [state, budget], code, api_name="variant_code", queue=False)
        starts = [run.click, prompt.submit, negative.submit]  # Generate, or Enter in either prompt
        compare_inputs = [form[name] for name in COMPARE_FIELDS]
        gr.on(starts, queued_status, compare_inputs, [status, download, code], api_name=False, queue=False)
        collect_button.click(spotcheck_collect.make_collect(settings.spotcheck_db.parent / "spotcheck-media"),
                             [state, collected], [collected, collection], api_name="spotcheck_collect")
        create_button.click(spotcheck_collect.make_create(settings.spotcheck_db), [collected, pairs],
                            [collected, collection], api_name="spotcheck_create")
        clear_button.click(spotcheck_collect.clear, None, [collected, collection], api_name="spotcheck_clear")
        b_add.click(build_variant, [preset, b_weights, b_quant, b_cache, b_value, b_steps, custom], custom,
                    api_name="build_variant")
        view_outputs = [status, grid, summary, report, ab_choice, video, frames_plot, slider, state]  # see _view
        event = gr.on(starts, compare, [*compare_inputs, history], view_outputs,
                      api_name="compare", concurrency_id="gpu", concurrency_limit=1)
        stop.click(cancel, None, status, api_name="cancel", cancels=[event], queue=False)
        event.then(reference_choices, state, ab_against, api_visibility="private", queue=False)
        event.then(remember_run, [state, mine], mine, api_visibility="private", queue=False).then(
            list_mine, [mine, history], earlier, api_visibility="private", queue=False)  # may wait for its save
        demo.load(list_mine, [mine, history], earlier, api_visibility="private", queue=False)
        demo.load(lambda: gr.update(choices=preset_choices()), None, bench_preset, api_visibility="private",
                  queue=False)
        open_earlier.click(open_comparison, [earlier, price, budget, history], view_outputs,
                           api_name="compare_open").then(
            reference_choices, state, ab_against, api_visibility="private", queue=False)
        gr.on([ab_choice.change, heat.change, ab_against.change], ab_view, [ab_choice, heat, state, ab_against],
              slider, api_name="ab_view")
    demo.queue(default_concurrency_limit=max(4, settings.concurrency))
    if warm:
        warm_up(settings)
    return demo


# gradio refuses bigger uploads before they reach the disk; the prompts-file loader's own limit (2 MB) is lower
# and names the file, so the user sees the exact reason for anything between the two.
MAX_UPLOAD = "5mb"


def launch_kwargs(settings: Settings | None = None) -> dict:
    """Arguments for demo.launch(): the page's look, and the bound on per-session state (see Settings)."""
    settings = settings or Settings.from_env()
    # show_error: an API caller's wrong-typed input fails in gradio's own checks before any handler, and without it
    # the caller reads only "the app raised an exception"; our handlers' own refusals are gr.Error either way
    return {"css": readouts.CSS, "theme": gr.themes.Soft(), "state_session_capacity": settings.session_capacity,
            "max_file_size": MAX_UPLOAD, "show_error": True}
