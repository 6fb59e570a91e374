"""`python -m studio bench`: run variants over a prompt set, aggregate, recommend, and write the reports.

    python -m studio bench --preset tiny-image --variants baseline,int8,teacache,fbc,naive4 --count 50 \\
        --budget-lpips 0.1 --budget-lpips-p95 0.2 --out out/bench

Writes OUT/bench.jsonl (one durable row per result; rerun the same command to resume), summary.json,
summary.csv, results.csv, report.html, recommended.py, grid.png, pareto.png and media/.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from studio.bench.paired import paired_text
from studio.cli_options import add_preset
from studio.pricing import MAX_PRICE
from studio.storage import output_folder_problem
from studio.usage import UsageError
from studio.wording import counted


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmark variants on many prompts: aggregates, Pareto chart, recommendation")
    add_preset(p)
    p.add_argument("--variants", help="named variants or slugs, comma separated (default: the preset's "
                   "default_variants, as Compare selects them)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--prompts", help="a .txt/.csv/.tsv/.jsonl file, or hf:OWNER/NAME (a Hub dataset, online)")
    source.add_argument("--prompt-set", help="a built-in set of the embedded presets: held-out (default), examples")
    p.add_argument("--prompt-column", default="prompt", help="CSV/TSV/Hub column holding the prompts")
    p.add_argument("--count", type=int, default=None, help="use the first N prompts (built-in sets: default 50)")
    p.add_argument("--seed", type=int, default=0, help="base seed: prompts without their own get seed+index")
    p.add_argument("--steps", type=int, default=None, help="baseline steps (default: the preset's)")
    p.add_argument("--size", default=None, help="output size WxH, or WxHxF for video (default: the preset's); "
                   "speed-ups depend on it, so bench at the size you deploy")
    p.add_argument("--negative-prompt", default=None,
                   help="with every prompt (SDXL, SD3, SANA, Wan, LTX-Video; others refuse it)")
    p.add_argument("--sweep", action="append", default=[], metavar="PARAM=V1,V2",
                   help="grid over threshold, quant or steps; give it once or twice (X and Y)")
    p.add_argument("--budget-lpips", type=float, default=0.1, help="mean LPIPS budget for the recommendation")
    p.add_argument("--budget-lpips-p95", type=float, default=0.2, help="p95 LPIPS budget for the recommendation")
    p.add_argument("--gpu-price", type=float, default=None,
                   help="USD per hour (default: the device's Hugging Face Spaces list price, studio/pricing.py)")
    p.add_argument("--worst-k", type=int, default=4, help="worst prompts shown per variant")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output folder (rerun with the same folder to resume)")


def _check_numbers(args) -> None:
    from studio.bench.prompts import MAX_PROMPTS

    checks = [
        (args.count is None or 1 <= args.count <= MAX_PROMPTS, f"--count must be from 1 to {MAX_PROMPTS}"),
        (0 <= args.seed < 2**63, "--seed must be from 0 to 2^63-1"),
        (args.steps is None or 1 <= args.steps <= 1000, "--steps must be from 1 to 1000"),
        (0 <= args.budget_lpips <= 1, "--budget-lpips must be from 0 to 1"),
        (0 <= args.budget_lpips_p95 <= 1, "--budget-lpips-p95 must be from 0 to 1"),
        (args.gpu_price is None or 0 <= args.gpu_price <= MAX_PRICE,
         f"--gpu-price must be from 0 to {MAX_PRICE:g} USD per hour"),
        (1 <= args.worst_k <= 20, "--worst-k must be from 1 to 20"),
        (args.threads is None or 1 <= args.threads <= 256, "--threads must be from 1 to 256"),
        (len(args.sweep) <= 2, "--sweep may be given at most twice (an X and a Y axis)"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)


def _print_table(summary: dict) -> None:
    print(f"{'variant':18s} {'p50 s':>7s} {'p95 s':>7s} {'speedup':>7s} {'gen/h':>7s} {'$/1000':>7s} "
          f"{'LPIPS':>6s} {'p95':>6s} {'PSNR':>5s} {'SSIM':>5s} {'adher.':>6s} {'fidel.':>6s}  adherence vs baseline")

    def f(v, spec):
        text = "-" if v is None else "inf" if v == float("inf") else format(v, spec)
        return text.rjust(int(spec.split(".")[0]))

    for name, s in summary["variants"].items():
        print(f"{name[:18]:18s} {f(s['latency_p50_s'], '7.3f')} {f(s['latency_p95_s'], '7.3f')} "
              f"{f(s['speedup'], '6.2f')}x {f(s['throughput_per_hour'], '7.0f')} {f(s['cost_per_1000'], '7.4f')} "
              f"{f(s['lpips_mean'], '6.3f')} {f(s['lpips_p95'], '6.3f')} {f(s['psnr_median'], '5.1f')} "
              f"{f(s['ssim_mean'], '5.3f')} {f(s['adherence_mean'], '6.2f')} {f(s['fidelity_mean'], '6.3f')}"
              f"  {paired_text(s.get('adherence_vs_baseline'))}"
              + (f"  ({s['errors']} failed)" if s["errors"] else ""))


def _command_line(args) -> str:
    """The command as the user could type it again (recorded in the reports)."""
    parts = ["python", "-m", "studio", "bench", "--preset", args.preset, "--variants", args.variants]
    for flag, value in (("--prompts", args.prompts), ("--prompt-set", args.prompt_set), ("--count", args.count),
                        ("--steps", args.steps), ("--size", args.size),
                        ("--negative-prompt", args.negative_prompt), ("--gpu-price", args.gpu_price),
                        ("--threads", args.threads)):
        if value is not None:
            parts += [flag, str(value)]
    if args.prompt_column != "prompt":
        parts += ["--prompt-column", args.prompt_column]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    for sweep in args.sweep:
        parts += ["--sweep", sweep]
    parts += ["--budget-lpips", f"{args.budget_lpips:g}", "--budget-lpips-p95", f"{args.budget_lpips_p95:g}",
              "--out", args.out]
    return shlex.join(parts)


def run(args) -> int:
    from studio.bench.plan import plan_variants, resolve_prompts
    from studio.bench.store import StoreError
    from studio.engine.request import Generation
    from studio.inputs import check_negative_prompt
    from studio.presets import load_preset
    from studio.sizes import parse_size

    _check_numbers(args)
    preset = load_preset(args.preset)
    args.variants = args.variants or ",".join(preset.default_variants)  # written out in the recorded command
    out = Path(args.out)
    if problem := output_folder_problem("--out", out):
        raise UsageError(problem)
    try:
        prompts = resolve_prompts(preset, args.prompts, args.prompt_set, args.count, args.seed, args.prompt_column)
        variants, plan = plan_variants(preset, args.variants.split(","), args.sweep)
        generation = Generation(args.steps, parse_size(preset, args.size),
                                check_negative_prompt(preset, args.negative_prompt))
    except ValueError as e:  # PromptFileError, SweepError, PlanError, PresetError: one line, exit 2
        raise UsageError(str(e)) from None

    from studio.engine.pool import runnable_here

    ok, why = runnable_here(preset)
    if not ok:
        raise UsageError(why)

    import torch

    from studio.bench.outputs import write_outputs
    from studio.bench.runner import BenchError, run_bench
    from studio.engine.runner import Engine

    if args.threads:
        torch.set_num_threads(args.threads)
    command = _command_line(args)
    n = len(prompts.prompts)
    print(f"bench: {counted(n, 'prompt')} ({prompts.name}) x {counted(len(variants), 'variant')} "
          f"({', '.join(v.name for v in variants)}) -> {out}", file=sys.stderr)
    if plan is not None and plan.note():
        print(f"bench: {plan.note()}", file=sys.stderr)
    try:
        bench = run_bench(Engine(preset), prompts, variants, out, generation, show_bar=not args.no_progress)
    except (BenchError, StoreError) as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        print(f"interrupted: finished results are in {out}/bench.jsonl; rerun the same command to resume",
              file=sys.stderr)
        return 130
    for failure in bench.failed[:10]:
        print(f"failed: {failure}", file=sys.stderr)
    summary = write_outputs(out, preset, bench.rows, variants, (args.budget_lpips, args.budget_lpips_p95),
                            args.gpu_price, plan, generation, command, args.worst_k)
    _print_table(summary)
    print(f"\nrecommendation: {summary['recommendation']['reason']}")
    print(f"{bench.ran} results run, {bench.skipped} resumed from {out}/bench.jsonl; wrote summary.json, summary.csv, "
          f"results.csv, report.html, recommended.py, grid.png, pareto.png")
    all_failed = all(s["errors"] == s["prompts"] for s in summary["variants"].values())
    return 1 if all_failed else 0
