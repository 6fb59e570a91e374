"""`python -m studio region-bench`: the region cache against the baseline (and TeaCache), side by side.

    python -m studio region-bench --preset tiny-video --prompt "a small blue square at the left moving right" \\
        --variants baseline,region,teacache,region-tea --repeats 3 --out out/region

A warm-up round, then `--repeats` rounds that run all variants once each, in order, so a burst of background load
hits them alike. Medians printed: denoising time and its speedup over the baseline (wall clock), end to end, and
CPU time of the run (with one torch thread, STUDIO_CPU_THREADS=1, the default on 2 cores: the work done, much
steadier than wall time when other processes compete for the cores), computed steps, the share of token-steps
computed, PSNR/SSIM/LPIPS against the same-seed baseline. Writes OUT/region-bench.json and, for each
variant with a region cache, OUT/NAME-regions.png (which tokens each step recomputed, per frame) beside each
variant's media.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from studio.cli_options import add_preset, add_seed
from studio.inputs import InputError, check_prompt, parse_variants, runnable_preset
from studio.storage import output_folder_problem


def add_parser(sub) -> None:
    p = sub.add_parser("region-bench", help="region cache vs baseline/TeaCache: denoise speedup, PSNR/LPIPS, overlays")
    add_preset(p)
    p.add_argument("--prompt", required=True, help="the text every variant draws")
    p.add_argument("--variants", default="baseline,region,teacache,region-tea",
                   help="named variants or slugs, comma separated (the baseline is added if missing)")
    add_seed(p)
    p.add_argument("--steps", type=int, default=None, help="baseline steps (default: the preset's)")
    p.add_argument("--repeats", type=int, default=3, help="rounds over all variants; medians are reported")
    p.add_argument("--size", type=int, default=None, help="width and height in pixels (default: the preset's)")
    p.add_argument("--out", default="out/region-bench", help="folder for region-bench.json, each variant's media "
                   "and the region overlays NAME-regions.png (default: out/region-bench)")


def _check(args) -> None:
    if not 1 <= args.repeats <= 20:
        raise InputError(f"--repeats must be from 1 to 20, got {args.repeats}")
    if args.size is not None and (not 16 <= args.size <= 1024 or args.size % 16):
        raise InputError(f"--size must be a multiple of 16 from 16 to 1024, got {args.size}")
    if problem := output_folder_problem("--out", args.out):
        raise InputError(problem)


def _row(results: list) -> dict:
    """Medians over rounds for one variant (metrics and cache statistics come from its last round)."""
    last = results[-1]
    timings = [r.timings for r in results]
    region = (last.cache or {}).get("region")
    return {"name": last.name, "slug": last.slug,
            "denoise_s": statistics.median(t["denoise_s"] for t in timings),
            "end_to_end_s": statistics.median(t["end_to_end_s"] for t in timings),
            "cpu_s": statistics.median(t["cpu_s"] for t in timings) if timings[0]["cpu_s"] is not None else None,
            "computed_steps": (last.cache or {}).get("computed_steps", last.steps), "steps": last.steps,
            "token_steps": region["computed_token_fraction"] if region else None,
            "psnr": last.metrics.get("psnr"), "ssim": last.metrics.get("ssim"), "lpips": last.metrics.get("lpips"),
            "rounds": [{k: t[k] for k in ("denoise_s", "end_to_end_s", "cpu_s")} for t in timings]}


def _fmt(value, spec: str, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, str):  # json-safe metrics: "inf"
        return value.rjust(width)
    return format(value, spec).rjust(width)


def print_table(rows: list[dict]) -> None:
    base = rows[0]

    def speedup(key: str, r: dict) -> float | None:
        return base[key] / r[key] if base[key] and r[key] else None

    print(f"{'variant':16s} {'slug':22s} {'denoise s':>9s} {'x':>5s} {'e2e s':>7s} {'x':>5s} {'CPU s':>7s} {'x':>5s} "
          f"{'steps':>7s} {'tokens':>6s} {'PSNR':>6s} {'SSIM':>6s} {'LPIPS':>6s}")
    for r in rows:
        print(f"{r['name'][:16]:16s} {r['slug'][:22]:22s} {_fmt(r['denoise_s'], '.3f', 9)} "
              f"{_fmt(speedup('denoise_s', r), '.2f', 5)} {_fmt(r['end_to_end_s'], '.3f', 7)} "
              f"{_fmt(speedup('end_to_end_s', r), '.2f', 5)} {_fmt(r['cpu_s'], '.3f', 7)} "
              f"{_fmt(speedup('cpu_s', r), '.2f', 5)} {r['computed_steps']:>3d}/{r['steps']:<3d} "
              f"{_fmt(r['token_steps'], '.2f', 6)} {_fmt(r['psnr'], '.1f', 6)} {_fmt(r['ssim'], '.3f', 6)} "
              f"{_fmt(r['lpips'], '.3f', 6)}")


def run(args) -> int:
    _check(args)
    preset = runnable_preset(args.preset)
    check_prompt(preset, args.prompt)
    variants = parse_variants(preset, args.variants.split(","))
    if not any(v.kind(preset.steps) == "baseline" for v in variants):
        variants = [preset.variants["baseline"], *variants]

    from studio.engine.report import attach_metrics
    from studio.engine.request import RunRequest
    from studio.engine.runner import Engine, save_media

    engine = Engine(preset)
    cpu_clock = engine.device.type == "cpu" and engine.threads == 1  # one thread: its CPU time is all the work
    rounds: dict[str, list] = {v.name: [] for v in variants}
    for i in range(args.repeats + 1):  # round 0 warms up (lazy initialisation) and is not counted
        request = RunRequest(args.prompt, seed=args.seed, steps=args.steps, width=args.size, height=args.size,
                             warmup=False)
        noise = engine.initial_noise(request)
        for v in variants:
            start = time.thread_time()
            r = engine.run_variant(v, request, noise)
            if r.error:
                print(f"error: variant '{r.name}' failed: {r.error}", file=sys.stderr)
                return 1
            r.timings["cpu_s"] = time.thread_time() - start if cpu_clock else None
            if i:
                rounds[r.name].append(r)
        print(f"round {i}/{args.repeats} done" if i else "warm-up round done", file=sys.stderr)
    last = [results[-1] for results in rounds.values()]
    attach_metrics(preset, args.prompt, last)
    rows = [_row(results) for results in rounds.values()]
    print_table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for r in last:
        save_media(r, out)  # with NAME-regions.png for region-cache variants
    report = {"preset": preset.name, "prompt": args.prompt, "seed": args.seed, "repeats": args.repeats,
              "size": args.size, "device": engine.device.type, "variants": rows,
              "region": {r.name: r.cache["region"] for r in last if r.cache and r.cache.get("region")}}
    (out / "region-bench.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out}/region-bench.json and the region overlays")
    return 0
