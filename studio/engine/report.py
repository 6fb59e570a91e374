"""One comparison end to end: run the variants, save media, attach metrics, write report.json."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from studio.engine.request import Generation
from studio.engine.runner import Engine, VariantResult, save_media, save_output
from studio.presets import Preset
from studio.variant import Variant


def metrics_for(preset: Preset, prompt: str, result: VariantResult, baseline: VariantResult | None) -> dict:
    """One result's metrics against the same-seed baseline (and the embedded checker where it applies)."""
    from studio.metrics import compare_media, json_safe

    if result.output is None:
        return {}
    metrics = {}
    if baseline is not None and baseline.output is not None:
        metrics.update(json_safe(compare_media(baseline.output, result.output)))
    if preset.pipeline == "tiny" and result.output.shape[-3:-1] == (preset.height, preset.width):
        from studio.tiny.checker import check  # its thresholds are for the size the models were trained at

        verdict = check(prompt, result.output, video=preset.media == "video")
        metrics["adherence"] = verdict.score
        metrics["fidelity"] = round(verdict.fidelity, 4)
    return metrics


def attach_metrics(preset: Preset, prompt: str, results: list[VariantResult]) -> None:
    """Fill each result's `metrics` against the same-seed baseline."""
    baseline = next((r for r in results if r.kind == "baseline" and r.output is not None), None)
    for r in results:
        r.metrics = metrics_for(preset, prompt, r, baseline)


def build_report(preset: Preset, prompt: str, seed: int, results: list[VariantResult], engine: Engine,
                 generation: Generation = Generation()) -> dict:  # noqa: B008 (frozen: a shared default is safe)
    return {
        "preset": preset.name,
        "prompt": prompt,
        **({"negative_prompt": generation.negative_prompt} if generation.negative_prompt else {}),
        "seed": seed,
        "size": generation.size_text(preset),
        "device": engine.device.type,
        "decoder_dtype": engine.decoder_dtype(),  # bfloat16 on CPUs that decode in it natively (README)
        "resident_bytes": engine.resident_bytes(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "variants": [r.to_report() for r in results],
    }


def run_comparison(preset: Preset, variants: list[Variant], prompt: str, seed: int, repeats: int, out_dir: Path,
                   generation: Generation = Generation(), engine: Engine | None = None,  # noqa: B008 (frozen)
                   log: Callable[[str], None] = lambda _: None) -> dict:
    """Run, save media under `out_dir`, compute metrics, write `out_dir/report.json`; returns the report.
    `generation`: the steps, size and negative prompt (the preset's own by default)."""
    engine = engine or Engine(preset)
    request = generation.request(prompt, seed, repeats=repeats, interleave=True)
    earlier = _media_names(out_dir / "report.json")  # a comparison written here before, replaced by this one

    def on_result(r: VariantResult) -> None:
        r.media = save_media(r, out_dir)
        if r.error:
            log(f"{r.name:12s} FAILED: {r.error}")
        else:
            note = (r.cache or {}).get("note")
            log(f"{r.name:12s} {r.slug:24s} {r.timings['end_to_end_s']:.3f} s  x{r.speedup or 1:.2f}"
                + (f"  cache: {note}" if note else ""))

    results = engine.compare(request, variants, on_result=on_result)
    try:
        attach_metrics(preset, prompt, results)
    except ImportError as e:  # metrics are optional: the timing report still stands
        log(f"metrics unavailable: {e}")
    report = build_report(preset, prompt, seed, results, engine, generation)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False))
    for stale in earlier - _media_names(out_dir / "report.json"):  # else an earlier run's variant looks like this one's
        (out_dir / stale).unlink(missing_ok=True)
    return report


def _media_names(report_path: Path) -> set[str]:
    """The media files a comparison's report.json lists (bare names in its folder; none if it cannot be read)."""
    try:
        variants = json.loads(report_path.read_text(encoding="utf-8")).get("variants", [])
        return {Path(str(m)).name for v in variants for m in v.get("media") or []} - {"", "report.json"}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def write_compare_folder(out_dir: Path, report: dict, outputs: dict[str, np.ndarray]) -> Path:
    """A finished comparison as `compare --out` writes it: report.json, each variant's media named after it.

    `report` is the page's report (prompt, seed, variants with name, slug, kind, figures); `outputs` holds each
    finished variant's pixels by slug. Returns `out_dir`, which a spot-check session can be built from."""
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = []
    for v in report["variants"]:
        output = outputs.get(v["slug"])
        media = save_output(v["name"], output, out_dir) if output is not None else []
        variants.append({**v, "media": [Path(m).name for m in media]})
    text = json.dumps({**report, "variants": variants}, indent=2, allow_nan=False)
    (out_dir / "report.json").write_text(text, encoding="utf-8")
    return out_dir
