"""Command line: `python -m studio COMMAND ...`. Usage errors print one line and exit with code 2.

Commands:
    presets [new NAME --from BASE --source REF]   list presets, or write one for your own model
    variants --preset NAME                list a preset's named variants and their slugs
    compare --preset NAME --prompt TEXT   run variants side by side, write media and report.json
    evaluate --preset tiny-image          adherence/fidelity of the embedded model on held-out prompts
    calibrate-teacache --preset NAME      fit TeaCache rescale coefficients from a few prompts
    metrics A B [--json]                  LPIPS/PSNR/SSIM between two images or two videos
    distill --preset NAME --out DIR       train a few-step student from the baseline teacher
    overhead [--preset NAME]              studio vs direct pipeline time, determinism, shared memory
    doctor [--json] [--preset NAME]       hardware, quantizations, caches, LPIPS, disk, Hub access, versions
    bench --preset NAME --out DIR         variants over many prompts: aggregates, Pareto chart, recommendation
    region-bench --preset NAME --prompt T region cache vs baseline/TeaCache: denoise speedup, PSNR/LPIPS, overlays
    spotcheck create|results|export|delete|list   blind A/B spot-check sessions (see: spotcheck --help)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio import doctor, preset_cli, region_bench
from studio.bench import command as bench_command
from studio.cli_options import add_json, add_preset, add_seed
from studio.config import ConfigError
from studio.distill import command as distill_command
from studio.hub import HubError
from studio.inputs import InputError, check_negative_prompt, check_prompt, parse_variants, runnable_preset
from studio.presets import PresetError, load_preset
from studio.sizes import parse_size, report_width
from studio.spotcheck import cli as spotcheck_cli
from studio.storage import output_folder_problem
from studio.usage import DistillUsageError, UsageError
from studio.variant import RecipeError
from studio.wording import counted


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _out_dir(text: str) -> Path:
    if problem := output_folder_problem("--out", text):
        raise UsageError(problem)
    return Path(text)


def _cmd_variants(args) -> int:
    preset = load_preset(args.preset)
    name_width = max(map(len, preset.variants))  # columns as wide as this preset's longest name and slug
    slug_width = max(len(v.slug) for v in preset.variants.values())
    for name, v in preset.variants.items():
        chosen = "*" if name in preset.default_variants else " "
        print(f"{chosen}{name:{name_width}s} {v.slug:{slug_width}s} {v.kind(preset.steps):10s} "
              f"{preset.notes.get(name, '')}")
    print("* selected by default (the preset's default_variants)")
    return 0


def _cmd_compare(args) -> int:
    preset = runnable_preset(args.preset)
    variants = parse_variants(preset, args.variants.split(",") if args.variants else list(preset.default_variants))
    check_prompt(preset, args.prompt)
    size = parse_size(preset, args.size)
    negative = check_negative_prompt(preset, args.negative_prompt)
    if args.video and preset.media != "video":
        raise UsageError(f"--video given but preset '{preset.name}' makes images; use a video preset")
    if not 0 < args.budget_lpips <= 1:
        raise UsageError(f"--budget-lpips must be above 0 and at most 1, got {args.budget_lpips:g}")
    from studio import pricing
    from studio.config import ConfigError, memory_budget_gb
    from studio.engine.report import run_comparison
    from studio.engine.request import Generation
    from studio.engine.runner import Engine, hardware_name
    from studio.ui import readouts
    from studio.ui.compare_code import write_recommended_code
    from studio.ui.compare_report import write_compare_html

    try:
        price = None if args.gpu_price is None else pricing.check_price(args.gpu_price)
    except ValueError as e:
        raise UsageError(f"--gpu-price: {e}") from None

    try:
        budget_gb = memory_budget_gb(args.memory_budget_gb, "--memory-budget-gb")
    except ConfigError as e:
        raise UsageError(str(e)) from None
    out = _out_dir(args.out)
    engine = Engine(preset, memory_budget_bytes=int(budget_gb * 1e9) if budget_gb else None)
    report = run_comparison(preset, variants, args.prompt, args.seed, args.repeats, out,
                            Generation(args.steps, size, negative), engine=engine,
                            log=lambda msg: print(msg, file=sys.stderr))
    if price is None:
        price = pricing.PRICES[pricing.row_or_default(hardware_name(engine.device))]
    write_compare_html(out, report, None, price, args.budget_lpips, args.repeats,
                       report_width(report, preset))
    failed = [v["slug"] for v in report["variants"] if v["error"]]
    code = write_recommended_code(out, report, args.budget_lpips)
    ran = counted(len(report["variants"]), "variant")
    print(f"wrote {args.out}/report.json and report.html ({ran}, {len(failed)} failed)"
          + (f"; recommended.py runs {code[0]}" if code else ""))
    verdict = readouts.verdict(report["variants"], args.budget_lpips, args.repeats).strip()
    if verdict:
        print(verdict)
    return 1 if failed and len(failed) == len(report["variants"]) else 0


def _cmd_evaluate(args) -> int:
    from studio.bench.heldout import evaluate
    from studio.engine.loading import require_hardware
    from studio.engine.runner import default_device
    from studio.tiny.data import MAX_EVAL_SEED

    preset = load_preset(args.preset)
    if preset.pipeline != "tiny":
        raise UsageError("evaluate works on the embedded presets (tiny-image, tiny-video)")
    if args.seed > MAX_EVAL_SEED:
        raise UsageError(f"--seed must be from 0 to {MAX_EVAL_SEED} for a held-out set, got {args.seed}")
    variants = parse_variants(preset, args.variants.split(","))  # a typo is refused before any prompt runs
    for v in variants:
        try:
            require_hardware(v, default_device())
        except ValueError as e:
            raise UsageError(f"variant '{v.name}': {e}") from None
    summary = evaluate(preset, [v.name for v in variants], args.prompts, args.seed,
                       log=lambda msg: print(msg, file=sys.stderr), combinations=args.combinations)
    print(json.dumps(summary, indent=2) if args.json else summary["table"])
    return 0


def _cmd_calibrate(args) -> int:
    from studio.engine.calibrate import REAL_MODEL_PROMPTS, calibrate_teacache

    preset = load_preset(args.preset)
    if "teacache" not in preset.caches:
        raise UsageError(f"TeaCache does not apply to preset '{preset.name}' (its caches: "
                         f"{', '.join(preset.caches) or 'none'}), so there is nothing to calibrate")
    if preset.pipeline != "tiny" and args.prompts > len(REAL_MODEL_PROMPTS):
        raise UsageError(f"--prompts: calibration on a real model takes 1 to {len(REAL_MODEL_PROMPTS)} prompts, "
                         f"got {args.prompts}")
    runnable_preset(args.preset)  # a GPU preset on a CPU machine: refused before any download
    coefficients, fit = calibrate_teacache(preset, args.prompts, args.degree)
    print(f"teacache_coefficients = [{', '.join(f'{c:.6g}' for c in coefficients)}]")
    print(f"# fit over {fit['pairs']} step pairs, R^2 = {fit['r2']:.3f}; paste into presets/{preset.name}.toml")
    return 0


def _cmd_overhead(args) -> int:
    from studio.engine.overhead import format_report, measure

    preset = runnable_preset(args.preset)
    check_prompt(preset, args.prompt)
    result = measure(preset, args.prompt, args.seed, args.repeats)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def _cmd_metrics(argv: list[str]) -> int:
    from studio.metrics.cli import main as metrics_main

    return metrics_main(argv)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m studio", description="Speed-Up Studio command line")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    preset_cli.add_parser(sub)
    p = sub.add_parser("variants", help="list a preset's variants")
    add_preset(p)
    p = sub.add_parser("compare", help="run variants side by side")
    add_preset(p)
    p.add_argument("--prompt", required=True, help="the text every variant draws")
    p.add_argument("--negative-prompt", default=None,
                   help="what to steer away from (SDXL, SD3, SANA, Wan, LTX-Video; others refuse it)")
    add_seed(p)
    p.add_argument("--variants", help="named variants or slugs, comma separated (default: the preset's "
                   "default_variants, as the page selects them)")
    p.add_argument("--steps", type=int, default=None, help="baseline steps (default: the preset's)")
    p.add_argument("--size", default=None, help="output size WxH, or WxHxF for video (default: the preset's); "
                   "speed-ups depend on it, so compare at the size you deploy")
    p.add_argument("--repeats", type=int, default=1,
                   help="timed runs per variant, in rounds over all variants (a drift in machine load hits all "
                   "alike); medians are reported")
    p.add_argument("--video", action="store_true", help="assert the preset is a video preset")
    p.add_argument("--memory-budget-gb", default="",
                   help="device memory the variants may hold at once; beyond it they take turns (default: no limit)")
    p.add_argument("--budget-lpips", type=float, default=0.1,
                   help="LPIPS budget: report.html stars the fastest variant within it (the page's default)")
    p.add_argument("--gpu-price", type=float, default=None,
                   help="USD per hour for report.html's costs (default: this device's list price, studio/pricing.py)")
    p.add_argument("--out", default="out/compare", help="folder for each variant's media, report.json, report.html "
                   "and recommended.py (default: out/compare)")
    p = sub.add_parser("evaluate", help="adherence/fidelity of the embedded model on held-out prompts")
    add_preset(p, default="tiny-image")
    p.add_argument("--variants", default="baseline,naive4",
                   help="named variants or slugs, comma separated (default: baseline,naive4)")
    p.add_argument("--prompts", type=int, default=200,
                   help="how many held-out prompts, 1 to 2000 (default: 200). A set's prompts are distinct, so past a "
                   "few hundred the one-object ones run out and a set is mostly two-object prompts, which are harder: "
                   "for more prompts of the same mix, run more seeds of 200")
    add_seed(p, help="which held-out set: each seed draws its own prompts and noise")
    p.add_argument("--combinations", choices=("held-out", "trained"), default="held-out",
                   help="colour/shape/place triples the prompts are made of: never trained on (the goal's measure) "
                        "or trained on (to tell generalisation apart from drawing)")
    add_json(p, "the summary")
    p = sub.add_parser("calibrate-teacache", help="fit TeaCache coefficients")
    add_preset(p)
    p.add_argument("--prompts", type=int, default=8, help="prompts to sample the steps on (default: 8)")
    p.add_argument("--degree", type=int, default=2, help="degree of the fitted polynomial, 1 to 6 (default: 2)")
    sub.add_parser("metrics", help="LPIPS/PSNR/SSIM between two images or videos (see: metrics --help)",
                   add_help=False)
    distill_command.add_parser(sub)
    p = sub.add_parser("overhead", help="studio vs direct pipeline time, determinism, shared memory")
    add_preset(p, default="tiny-image")
    p.add_argument("--prompt", default="a large red circle at the top left", help="the text drawn")
    add_seed(p)
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each path; medians are reported (default: 5)")
    add_json(p, "the report")
    doctor.add_parser(sub)
    bench_command.add_parser(sub)
    region_bench.add_parser(sub)
    spotcheck_cli.add_parser(sub)
    return ap


def _check_ranges(args) -> None:
    seed, steps, repeats = (getattr(args, k, None) for k in ("seed", "steps", "repeats"))
    if seed is not None and not 0 <= seed < 2**63:  # (evaluate and held-out bench sets narrow it)
        raise UsageError(f"--seed must be from 0 to 2^63-1, got {seed}")
    if steps is not None and not 1 <= steps <= 1000:
        raise UsageError(f"--steps must be from 1 to 1000, got {steps}")
    if repeats is not None and not 1 <= repeats <= 20:
        raise UsageError(f"--repeats must be from 1 to 20, got {repeats}")
    if args.command == "evaluate" and not 1 <= args.prompts <= 2000:
        raise UsageError(f"--prompts must be from 1 to 2000, got {args.prompts}")
    if args.command == "calibrate-teacache" and (not 1 <= args.prompts <= 64 or not 1 <= args.degree <= 6):
        raise UsageError("--prompts must be from 1 to 64 and --degree from 1 to 6")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "metrics":
            return _cmd_metrics(argv[1:])
        args = build_parser().parse_args(argv)
        _check_ranges(args)
        handler = {"presets": preset_cli.run, "variants": _cmd_variants, "compare": _cmd_compare,
                   "evaluate": _cmd_evaluate, "calibrate-teacache": _cmd_calibrate, "doctor": doctor.run,
                   "distill": distill_command.run, "overhead": _cmd_overhead, "spotcheck": spotcheck_cli.run,
                   "bench": bench_command.run, "region-bench": region_bench.run}[args.command]
        return handler(args)
    except (UsageError, InputError, PresetError, RecipeError, DistillUsageError,
            spotcheck_cli.SpotcheckError, HubError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a folder removed mid-run: the machine's trouble, said in one line
        print(f"error: {e.strerror or e}" + (f": '{e.filename}'" if e.filename else ""), file=sys.stderr)
        return 1
