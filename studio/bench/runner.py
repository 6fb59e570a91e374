"""Run variants over a prompt set with one Engine (each pipeline loads once), one durable row per result.

For each prompt the baseline runs first (its output is the reference of that prompt's metrics), then each
variant, all from the same initial noise. Every (prompt, variant) result is saved (media with its parameters in
the PNG) and appended to `bench.jsonl` before the next starts; rerunning the same command skips what is done,
so a killed run resumes without duplicates, gaps or redone work. The first run of each variant in a process
includes a short warm-up outside the clock.

Example:
    engine = Engine(load_preset("tiny-image"))
    run = run_bench(engine, builtin_prompt_set(engine.preset, "held-out", 50),
                    bench_variants(engine.preset, ["baseline", "teacache", "naive4"]), Path("out/bench"))
    run.rows   # one dict per (prompt, variant)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from studio.bench.media import load_output, save_with_parameters, to_8bit
from studio.bench.plan import bench_variants
from studio.bench.prompts import BenchPrompt, PromptSet
from studio.bench.store import ResultStore, row_key
from studio.engine.report import attach_metrics
from studio.engine.request import Generation
from studio.engine.runner import Engine, VariantResult, hardware_name
from studio.presets import Preset
from studio.sizes import at_size, default_size
from studio.variant import Variant

RESULTS_FILE = "bench.jsonl"
MEDIA_DIR = "media"
METRIC_KEYS = ("lpips", "psnr", "ssim", "adherence", "fidelity")


class BenchError(ValueError):
    """A bench that cannot start or resume; the message says why and what to do."""


@dataclass
class BenchRun:
    rows: list[dict]  # every row of this bench (resumed ones included), in file order
    ran: int = 0  # results computed by this call
    skipped: int = 0  # results already on disk
    stopped: bool = False  # should_stop() asked to stop before the end
    failed: list[str] = field(default_factory=list)  # "slug on prompt i: error"


def _check_resumable(rows: list[dict], preset: Preset, prompts: PromptSet, device: str,
                     generation: Generation) -> None:
    """Rows on disk must come from the same preset, prompts, device, steps, size and negative prompt, or the
    comparison is meaningless."""
    by_index = {p.index: p for p in prompts.prompts}
    size = generation.size_text(preset)
    for row in rows:
        p = by_index.get(row["prompt_index"])
        clash = None
        if row["preset"] != preset.name:
            clash = f"preset '{row['preset']}'"
        elif p is not None and (row["prompt"] != p.prompt or row["seed"] != p.seed):
            clash = f"prompt {row['prompt_index']} = {row['prompt']!r} (seed {row['seed']})"
        elif row["device"] != device:
            clash = f"device '{row['device']}'"
        elif row.get("base_steps") != generation.steps:
            clash = f"--steps {row.get('base_steps')}"
        elif (made_at := row.get("size", default_size(preset))) != size:  # rows from before sizes: the preset's
            clash = f"--size {made_at}"
        elif row.get("negative_prompt") != generation.negative_prompt:
            clash = f"--negative-prompt {row.get('negative_prompt')!r}"
        if clash:
            raise BenchError(f"the output folder holds a bench with {clash}, which differs from this one; "
                             f"use another --out (or move the old one away) to start a new bench")


def _row(preset: Preset, p: BenchPrompt, r: VariantResult, device: str, threads: int, generation: Generation,
         media: list[str]) -> dict:
    metrics = {k: r.metrics.get(k) for k in METRIC_KEYS}
    return {
        "preset": preset.name, "prompt_index": p.index, "prompt": p.prompt, "seed": p.seed,
        "variant": r.name, "slug": r.slug, "kind": r.kind, "steps": r.steps, "base_steps": generation.steps,
        "size": generation.size_text(preset), "negative_prompt": generation.negative_prompt,
        "latency_s": r.timings.get("end_to_end_s"), "denoise_s": r.timings.get("denoise_s"),
        "peak_bytes": r.memory.get("peak_bytes"), "weights_bytes": r.memory.get("weights_bytes"),
        "computed_steps": (r.cache or {}).get("computed_steps", r.steps if not r.error else None),
        "cache_idle_reason": (r.cache or {}).get("idle_reason"),  # a step cache that reused no step says why
        **metrics, "lpips_error": r.metrics.get("lpips_error"),
        "media": media, "error": r.error, "device": device, "threads": threads,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_bench(engine: Engine, prompts: PromptSet, variants: list[Variant], out_dir: Path,
              generation: Generation = Generation(),  # noqa: B008 (frozen: a shared default is safe)
              progress: Callable[[int, int, str], None] | None = None,
              should_stop: Callable[[], bool] | None = None, show_bar: bool = True) -> BenchRun:
    """Run (or resume) the bench into `out_dir`; returns all its rows. `generation`: the steps, size and negative
    prompt every prompt is drawn with (the preset's own by default).

    progress(done, total, label) is called after each result; should_stop() is checked before each one.
    """
    import torch
    from tqdm import tqdm

    preset, out_dir = engine.preset, Path(out_dir)
    variants = bench_variants(preset, variants)
    baseline = variants[0]
    device, threads = hardware_name(engine.device), torch.get_num_threads()
    run = BenchRun(rows=[])
    with ResultStore(out_dir / RESULTS_FILE) as store:
        rows = store.rows()
        _check_resumable(rows, preset, prompts, device, generation)
        done = {row_key(r): r for r in rows}
        todo = [(p, v) for p in prompts.prompts for v in variants if (p.index, v.slug) not in done]
        run.skipped = len(prompts.prompts) * len(variants) - len(todo)
        bar = tqdm(total=len(todo), desc=f"bench {preset.name}", unit="run", file=sys.stderr, disable=not show_bar)
        warmed: set[str] = set()
        reference: dict[int, VariantResult | None] = {}  # prompt index -> its baseline output (8-bit)
        try:
            for p, v in todo:
                if should_stop and should_stop():
                    run.stopped = True
                    break
                request = generation.request(p.prompt, p.seed, warmup=v.slug not in warmed)
                r = engine.run_variant(v, request, engine.initial_noise(request))
                warmed.add(v.slug)
                if r.output is not None:
                    r.output = to_8bit(r.output)
                if v.slug == baseline.slug:
                    reference[p.index] = r
                elif p.index not in reference:  # resumed: the baseline of this prompt is on disk
                    reference[p.index] = _reference_from_disk(done.get((p.index, baseline.slug)), out_dir,
                                                              at_size(preset, generation.size))
                try:
                    ref = reference.get(p.index)
                    attach_metrics(preset, p.prompt, [r] if ref is None or ref is r else [ref, r])
                except ImportError as e:  # metrics are optional: timings still stand
                    r.notes.append(f"metrics unavailable: {e}")
                parameters = {"preset": preset.name, "prompt": p.prompt, "seed": p.seed, "variant": v.name,
                              "slug": v.slug, "steps": r.steps, "recipe": v.to_dict()}
                media = save_with_parameters(r, out_dir / MEDIA_DIR / f"p{p.index:05d}", parameters)
                row = _row(preset, p, r, device, threads, generation,
                           [str(Path(m).relative_to(out_dir)) for m in media])
                store.append(row)
                done[row_key(row)] = row
                run.ran += 1
                if r.error:
                    run.failed.append(f"{v.slug} on prompt {p.index}: {r.error}")
                bar.update(1)
                if progress:
                    progress(run.skipped + run.ran, run.skipped + len(todo), f"{v.name} · prompt {p.index + 1}")
        finally:
            bar.close()
        wanted = {(p.index, v.slug) for p in prompts.prompts for v in variants}
        run.rows = [r for r in store.rows() if row_key(r) in wanted]
    return run


def _reference_from_disk(row: dict | None, out_dir: Path, preset: Preset) -> VariantResult | None:
    if row is None or row.get("error"):
        return None
    output = load_output(row["media"], out_dir, preset.width)
    if output is None:
        return None
    return VariantResult(slug=row["slug"], name=row["variant"], kind="baseline", recipe={}, steps=row["steps"],
                         output=output)
