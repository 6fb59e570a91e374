"""The studio page: pick a preset and variants, generate, and watch results stream in side by side.

This module lays the page out, wires its events and answers the preset and setup questions (what a preset is,
its link, a stack from the builder); a comparison's run is studio.ui.compare_run's. UI code never does model
work: handlers check input, hand a request to the engine's stream, and turn the events into readouts
(studio.ui.readouts). One GPU lane: every generation shares concurrency id "gpu" with limit 1, so requests queue
in order.
"""

from __future__ import annotations

import html

import gradio as gr

from studio import pricing
from studio.config import Settings
from studio.engine.pool import runnable_here, warm_up
from studio.inputs import (
    InputError,
    check_prompt,
    check_steps,
    takes_negative_prompt,
)
from studio.presets import PresetError, is_user_preset, list_presets, load_preset
from studio.sizes import allowed_text, default_size
from studio.ui import compare_export, links, readouts, spotcheck_collect
from studio.ui.ab_view import ab_view, reference_choices
from studio.ui.compare_form import (
    COMPARE_FIELDS,
    SETUP_FIELDS,
    CompareForm,
)
from studio.ui.compare_run import (
    cancel,
    compare,
    list_mine,
    open_comparison,
    queued_status,
    remember_run,
    variant_code,
)
from studio.ui.presets_ui import preset_choices, preset_or_error


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
