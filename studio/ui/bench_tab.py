"""The Benchmark tab: variants over many prompts, then the Pareto chart, the table, the worst cases and downloads.

Mount it inside an open `gr.Blocks` (the lead's app does, in a tab):

    with gr.Blocks() as demo:
        with gr.Tab("Benchmark"):
            build_bench_tab()

Handlers call studio.bench only (a BenchJob runs in a background thread; the handler streams its progress).
Endpoints: bench_preset (choices for a preset), bench_run (streams progress, then results), bench_cancel,
bench_open and bench_resume (an earlier bench by folder name), bench_spotcheck (a session from the shown bench).
"""

from __future__ import annotations

import functools
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from studio.bench.history import list_runs, load_run
from studio.bench.paired import paired_text
from studio.bench.prompts import BUILTIN_SETS, FILE_KINDS, builtin_set_names
from studio.inputs import InputError, takes_negative_prompt, variant_names
from studio.presets import REPO_ROOT, list_presets, load_preset
from studio.ui import lane
from studio.ui.presets_ui import preset_choices, preset_or_error
from studio.ui.spotcheck_collect import PAIRS_HINT, PAIRS_LABEL, make_create_from_bench
from studio.wording import counted

DOWNLOADS = ("report.html", "summary.json", "summary.csv", "results.csv", "recommended.py", "grid.png", "bench.jsonl")
TABLE_HEADERS = ["variant", "slug", "p50 s", "p95 s", "speedup", "gen/hour", "$/1000", "LPIPS mean", "LPIPS p95",
                 "PSNR med. dB", "SSIM", "adherence", "adherence vs baseline, points [95% CI]", "fidelity", "errors"]
SOURCES = ("Built-in set", "Upload a file", "Type them")


def preset_options(name: str):
    """Variant choices and built-in prompt sets of a preset, and whether it takes a negative prompt."""
    p = preset_or_error(name)
    sets = builtin_set_names(p)
    hint = ("Built-in sets: " + "; ".join(f"**{s}**: {BUILTIN_SETS[s]}" for s in sets)) if sets else \
        f"This preset has no built-in sets: upload a prompts file ({', '.join(FILE_KINDS)})."
    return (gr.update(choices=list(p.variants), value=list(p.default_variants)),
            gr.update(choices=sets, value=sets[0] if sets else None),
            gr.update(value=SOURCES[0] if sets else SOURCES[1]), hint,
            gr.update(value="", visible=takes_negative_prompt(p)))


def source_fields(source: str):
    """Show the field of the chosen prompt source only: the built-in set, the file upload or the typed prompts."""
    return tuple(gr.update(visible=source == s) for s in SOURCES)


def typed_prompts_file(text: str | None, folder: Path) -> str:
    """Typed prompts (one a line) as `folder`/prompts.txt, which the job checks as it checks an upload and copies
    into the bench's folder (a resume reads it there)."""
    if not (text or "").strip():
        raise gr.Error("type the prompts, one a line, or pick a built-in set or a file")
    path = folder / "prompts.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _text(value, name: str) -> str:
    """A text field's value ("" when empty); an API caller's number or list in its place is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise gr.Error(f"{name} must be text, got {type(value).__name__}")
    return value


def _variant_names(ticked, typed) -> list[str]:
    try:
        return variant_names(ticked, typed)
    except InputError as e:
        raise gr.Error(str(e)) from None


def _number(value, name: str, low: float, high: float, whole: bool = False, optional: bool = False):
    if value in (None, "") and optional:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number from {low:g} to {high:g}, got {value!r}") from None
    if not low <= number <= high or (whole and number != int(number)):
        raise gr.Error(f"{name} must be a {'whole ' if whole else ''}number from {low:g} to {high:g}, got {value!r}")
    return int(number) if whole else number


def _fmt(value, spec: str) -> str:
    if value is None:
        return "–"
    # summary.json spells infinity "inf" (strict JSON): a reopened bench has it as text
    return "∞" if value in (float("inf"), "inf") else format(value, spec)


def summary_table(summary: dict) -> list[list]:
    rows = []
    for name, s in summary["variants"].items():
        star = " ★" if name == summary["recommendation"]["variant"] else ""
        rows.append([name + star, s["slug"], _fmt(s["latency_p50_s"], ".3f"), _fmt(s["latency_p95_s"], ".3f"),
                     _fmt(s["speedup"], ".2f"), _fmt(s["throughput_per_hour"], ",.0f"), _fmt(s["cost_per_1000"], ".4f"),
                     _fmt(s["lpips_mean"], ".3f"), _fmt(s["lpips_p95"], ".3f"), _fmt(s["psnr_median"], ".1f"),
                     _fmt(s["ssim_mean"], ".3f"), _fmt(s["adherence_mean"], ".2f"),
                     paired_text(s.get("adherence_vs_baseline")), _fmt(s["fidelity_mean"], ".3f"), s["errors"]])
    return rows


def worst_gallery(summary: dict, out_dir: Path) -> list[tuple[str, str]]:
    """Baseline and variant images of each variant's worst prompts, in pairs."""
    items = []
    for name, s in summary["variants"].items():
        if s["kind"] == "baseline":
            continue
        for w in s["worst"]:
            pngs = [[p for p in media if p.endswith(".png")] for media in (w["baseline_media"], w["media"])]
            if all(pngs):
                caption = f"#{w['prompt_index'] + 1} {w['prompt']} — LPIPS {w['lpips']:.3f}"
                items.append((str(out_dir / pngs[0][-1]), f"baseline · {caption}"))
                items.append((str(out_dir / pngs[1][-1]), f"{name} · {caption}"))
    return items


def _status(update) -> str:
    if update.error:
        return f"**Failed:** {update.error}"
    note = f" Note: {update.note}." if update.note else ""
    if update.finished:
        what = "Cancelled" if update.cancelled else "Done"
        return f"**{what}:** {update.done} of {update.total} results. Folder: `{update.out_dir}`.{note}"
    return f"Running: {update.done} of {update.total} results ({update.label}){_pace(update)}.{note}"


def _pace(update) -> str:
    """", 0:24 elapsed, about 2:56 left" once a result is in (the first ones include each variant's warm-up)."""
    from tqdm import tqdm

    if update.eta_s is None:
        return f", {tqdm.format_interval(update.elapsed_s)} elapsed"
    return f", {tqdm.format_interval(update.elapsed_s)} elapsed, about {tqdm.format_interval(update.eta_s)} left"


def make_run_handler(get_engine: Callable | None, out_root: Path):
    def bench_run(preset_name, source, prompt_set, prompts_file, count, seed, steps, variants, extra, sweep,
                  budget_mean, budget_p95, gpu_price, typed_prompts="", size="", negative=""):
        """Validate, start the bench job, stream its progress, then show the results."""
        from studio.bench.job import BenchRequest

        _refuse_on_zerogpu()
        with tempfile.TemporaryDirectory(prefix="studio-prompts-") as typed_folder:  # gone once the job is over
            if source == SOURCES[2]:
                prompts_file = typed_prompts_file(_text(typed_prompts, "Prompts"), Path(typed_folder))
            request = BenchRequest(
                preset=preset_name, variants=_variant_names(variants, extra),
                prompts_file=prompts_file if source in SOURCES[1:] else None,
                prompt_set=prompt_set if source == SOURCES[0] else None,
                count=_number(count, "Prompts", 1, 5000, whole=True, optional=True),
                seed=_number(seed, "Seed", 0, 2**31 - 1, whole=True),
                # an untouched number field sends 0: for steps and price, 0 means "not given", as their labels say
                steps=_number(steps, "Baseline steps (0: the preset's)", 0, 1000, whole=True, optional=True) or None,
                # the job checks these as the CLI's bench does (studio.sizes, studio.inputs), whatever their type
                size=size or None, negative_prompt=negative or None,
                sweeps=[s.strip() for s in _text(sweep, "Sweep").split(";") if s.strip()],
                budget_mean_lpips=_number(budget_mean, "Mean LPIPS budget", 0, 1),
                budget_p95_lpips=_number(budget_p95, "p95 LPIPS budget", 0, 1),
                gpu_price=_number(gpu_price, "$ per hour (0: price table by device)", 0, 1000, optional=True) or None)
            if source == SOURCES[1] and not prompts_file:
                raise gr.Error(f"upload a prompts file ({', '.join(FILE_KINDS)}) or pick a built-in set")
            out_dir = out_root / f"{preset_name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
            yield from _run_job(request, out_dir, get_engine)
    return bench_run


def _refuse_on_zerogpu() -> None:
    from studio.deploy.zerogpu import MAX_SECONDS, on_zerogpu

    if on_zerogpu():  # the job's thread never holds ZeroGPU's per-call GPU; a bench outlives one call anyway
        raise gr.Error(f"A bench needs a GPU for all its runs, and ZeroGPU lends one only while a single "
                       f"comparison runs (at most {MAX_SECONDS} s). Use the Compare tab here, or run the bench "
                       f"on a Space with a dedicated GPU, in Docker, or with `python -m studio bench`.")


def _run_job(request, out_dir: Path, get_engine: Callable | None):
    """Start the bench job in `out_dir` (results already there are kept: a resume), stream its progress, then
    show the results. Outputs: status, chart, table, gallery, recommendation, downloads, running and finished dir."""
    from studio.bench.job import BenchJob, shared_engine

    try:
        job = BenchJob.start(request, out_dir, get_engine or shared_engine)
    except ValueError as e:  # prompts file, sweep, variants: the message says what is allowed
        raise gr.Error(str(e)) from None
    empty = (None, None, [], "", None)  # chart, table, gallery, recommendation, downloads
    try:
        with lane.busy():  # a comparison that arrives meanwhile says it waits
            for update in job.updates():
                if not update.finished:  # the running job's folder, for Cancel to name
                    yield _status(update), *empty, str(out_dir), gr.skip()
    finally:
        job.cancel()  # the page went away or Cancel was pressed: stop after the current result
    if update.error or update.summary is None:
        yield _status(update), *empty, None, gr.skip()
        return
    yield _status(update), *results_view(out_dir, update.summary), None, str(out_dir)


def make_resume_handler(get_engine: Callable | None, out_root: Path):
    def bench_resume(name: str | None):
        """Run what an earlier (cancelled) bench has not finished, in its folder, with its own settings."""
        from studio.bench.job import BenchRequest

        _refuse_on_zerogpu()
        if not name:
            raise gr.Error("Pick a bench from the list first.")
        try:
            folder, _ = load_run(out_root, name)
            request = BenchRequest.load(folder)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        yield from _run_job(request, folder, get_engine)
    return bench_resume


def results_view(out_dir: Path, summary: dict) -> tuple:
    """A finished bench's chart, table, worst-prompt gallery, recommendation and downloads."""
    files = [str(out_dir / f) for f in DOWNLOADS if (out_dir / f).is_file()]
    return (str(out_dir / "pareto.png"), summary_table(summary), worst_gallery(summary, out_dir),
            f"**Recommendation:** {summary['recommendation']['reason']}", files)


def earlier_choices(out_root: Path):
    """The picker's choices: finished benches under `out_root`, newest first."""
    return gr.update(choices=[(r.label, r.name) for r in list_runs(out_root)], value=None)


def make_open_handler(out_root: Path):
    def open_bench(name: str | None):
        """Show an earlier bench's results as when it finished (and make it the spot-check's source)."""
        if not name:
            raise gr.Error("Pick a bench from the list first.")
        try:
            folder, summary = load_run(out_root, name)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        status = (f"**Opened** the bench in `{folder}`: {counted(summary['prompts'], 'prompt')}, "
                  f"{counted(len(summary['variants']), 'variant')}.")
        return status, *results_view(folder, summary), str(folder)
    return open_bench


def cancel_message(running_dir: str | None) -> str:
    """What Cancel did: nothing, or where the results so far are (the run's own status stops updating)."""
    if not running_dir:
        return "Nothing is running."
    return f"**Cancelled** after the current result. The results so far, with their report, are in `{running_dir}`."


def build_bench_tab(get_engine: Callable | None = None, out_root: Path | None = None,
                    spotcheck_db: Path | None = None) -> gr.Dropdown:
    """Lay out the tab inside the current Blocks context; returns its preset dropdown (the page refreshes its
    choices on load). `get_engine(preset_name)` may share the app's engines; spot-check sessions made from a bench
    go to `spotcheck_db` (None: the default database)."""
    out_root = Path(out_root or REPO_ROOT / ".runs" / "bench")
    presets = list_presets()
    first = "tiny-image" if "tiny-image" in presets else presets[0]
    p = load_preset(first)
    sets = builtin_set_names(p)
    upload_first = not sets  # a real-model preset has no built-in sets
    gr.Markdown("Run variants over many prompts — a built-in set, your own file or prompts you type — and get "
                "per-variant latency percentiles, throughput, cost, LPIPS/PSNR/SSIM against the baseline, the Pareto "
                "front and the fastest variant within your quality budget. Results are saved as they finish.")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            preset = gr.Dropdown(preset_choices(), value=first, label="Model preset")
            source = gr.Radio(list(SOURCES), value=SOURCES[0] if sets else SOURCES[1], label="Prompts")
            prompt_set = gr.Dropdown(sets, value=sets[0] if sets else None, label="Built-in set",
                                     visible=not upload_first)
            prompts_file = gr.File(label=f"Prompts file ({', '.join(FILE_KINDS)}; a 'prompt' column/field)",
                                   file_types=list(FILE_KINDS), type="filepath", visible=upload_first)
            typed_prompts = gr.Textbox(label="Prompts, one a line", lines=6, max_lines=20, max_length=200_000,
                                       placeholder="a large red circle at the left\na small blue square at the top",
                                       visible=False)
            # under the prompts, as Generate is on Compare: in view without scrolling past the settings below
            with gr.Row():
                run = gr.Button("Run benchmark", variant="primary", scale=2, min_width=140)
                stop = gr.Button("Cancel", variant="stop", scale=1, min_width=90)
            sets_hint = gr.Markdown()
            with gr.Row():
                count = gr.Number(value=20, precision=0, minimum=1, label="Prompts (first N)")
                seed = gr.Number(value=0, precision=0, minimum=0, label="Base seed")
                steps = gr.Number(value=0, precision=0, minimum=0, label="Baseline steps (0: preset's)")
                size = gr.Textbox("", label="Size (W×H[×frames]; empty: preset's)", max_lines=1, max_length=20)
            # shown for the pipelines that take one (preset_options)
            negative = gr.Textbox("", label="Negative prompt (with every prompt)", max_lines=3, max_length=2000,
                                  visible=False)
            variants = gr.CheckboxGroup(list(p.variants), value=list(p.default_variants),
                                        label="Variants (the baseline always runs)")
            extra = gr.Textbox(label="More variants (slugs, comma-separated)", placeholder="e.g. int8wo-tea0.1, s8")
            sweep = gr.Textbox(label="Sweep (one or two axes, ';' between)",
                               placeholder="e.g. threshold=0.05,0.1,0.2; steps=10,20")
            with gr.Row():
                budget_mean = gr.Number(value=0.1, minimum=0, maximum=1, label="Budget: mean LPIPS ≤")
                budget_p95 = gr.Number(value=0.2, minimum=0, maximum=1, label="Budget: p95 LPIPS ≤")
                gpu_price = gr.Number(value=0, minimum=0, label="$ per hour (0: price table by device)")
            with gr.Accordion("Earlier benches", open=False):
                # custom values: an API caller may name a bench newer than this page's list; load_run checks it
                earlier = gr.Dropdown([(r.label, r.name) for r in list_runs(out_root)], value=None,
                                      label="A finished bench (newest first)", allow_custom_value=True)
                with gr.Row():
                    open_button = gr.Button("Open", size="sm")
                    resume = gr.Button("Resume (run what it has not finished)", size="sm")
                    refresh = gr.Button("Refresh the list", size="sm")
        with gr.Column(scale=2):
            status = gr.Markdown("Ready.")
            recommendation = gr.Markdown()
            # no label badge: it covered the chart's own title, which names the recommendation
            chart = gr.Image(label="Pareto chart: speedup vs mean LPIPS", show_label=False, type="filepath",
                             interactive=False)
            table = gr.Dataframe(headers=TABLE_HEADERS, label="Per variant", interactive=False, wrap=True)
            gallery = gr.Gallery(label="Worst prompts: baseline | variant", columns=4, height="auto")
            downloads = gr.File(label="Downloads", file_count="multiple", interactive=False)
            with gr.Row():
                spotcheck_pairs = gr.Textbox(label=PAIRS_LABEL, placeholder=PAIRS_HINT, scale=3)
                spotcheck_button = gr.Button("Blind spot-check of this bench", size="sm", scale=1)
            spotcheck_message = gr.Markdown()
            running_dir = gr.State(None)  # the output folder while a bench runs, else None
            finished_dir = gr.State(None)  # the last finished bench's folder: a spot-check session's source

    preset.change(preset_options, preset, [variants, prompt_set, source, sets_hint, negative], api_name="bench_preset")
    source.change(source_fields, source, [prompt_set, prompts_file, typed_prompts], api_name=False)
    event = run.click(make_run_handler(get_engine, out_root),
                      [preset, source, prompt_set, prompts_file, count, seed, steps, variants, extra, sweep,
                       budget_mean, budget_p95, gpu_price, typed_prompts, size, negative],
                      [status, chart, table, gallery, recommendation, downloads, running_dir, finished_dir],
                      api_name="bench_run", concurrency_id="gpu", concurrency_limit=1)
    resume_event = resume.click(make_resume_handler(get_engine, out_root), earlier,
                                [status, chart, table, gallery, recommendation, downloads, running_dir, finished_dir],
                                api_name="bench_resume", concurrency_id="gpu", concurrency_limit=1)
    list_earlier = functools.partial(earlier_choices, out_root)
    for finished in (event, resume_event):  # a new bench joins the list; a resumed one loses "cancelled"
        finished.then(list_earlier, None, earlier, api_name=False)
    refresh.click(list_earlier, None, earlier, api_name=False, queue=False)
    open_button.click(make_open_handler(out_root), earlier,
                      [status, chart, table, gallery, recommendation, downloads, finished_dir], api_name="bench_open")
    spotcheck_button.click(make_create_from_bench(spotcheck_db), [finished_dir, spotcheck_pairs], spotcheck_message,
                           api_name="bench_spotcheck")
    for shown_changes in (run, open_button, resume):  # a session message belongs to the bench it was made from
        shown_changes.click(lambda: "", None, spotcheck_message, api_name=False, queue=False)
    stop.click(cancel_message, running_dir, status, api_name="bench_cancel", cancels=[event, resume_event],
               queue=False)
    return preset
