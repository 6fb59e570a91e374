"""Readouts for the compare page, as plain data and HTML: cards, summary rows, cache timelines, costs.

Pure functions of result reports (VariantResult.to_report() dicts): no gradio and no model work here, so every
number the page shows is unit-testable.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np
from PIL import Image

from studio.pricing import cost_per_1000
from studio.variant import naive_counterparts
from studio.wording import counted

SUMMARY_COLUMNS = ["variant", "slug", "kind", "steps", "end-to-end s", "speedup ×", "per-step ms", "peak MB",
                   "weights MB", "$ / 1k gen", "LPIPS", "PSNR dB", "SSIM", "adherence", "computed steps", "error"]


def within_budget(reports: list[dict], lpips_budget: float) -> list[dict]:
    """The variants faster than the baseline whose LPIPS to it is within budget, fastest first."""
    return sorted((r for r in reports if not r.get("error") and r["kind"] != "baseline"
                   and (r.get("metrics") or {}).get("lpips") is not None
                   and r["metrics"]["lpips"] <= lpips_budget and (r.get("speedup") or 0) > 1),
                  key=lambda r: -r["speedup"])


def best_within_budget(reports: list[dict], lpips_budget: float) -> str | None:
    """Slug of the fastest non-baseline variant whose LPIPS to the baseline is within budget (None if none)."""
    within = within_budget(reports, lpips_budget)
    return within[0]["slug"] if within else None


CLOSE_CALL = 1.15  # two speedups within this ratio may swap places between single runs on a shared machine


def pick_text(reports: list[dict], lpips_budget: float, repeats: int) -> str:
    """One sentence for the status once a run is done: which variant the star marks and why, or that none
    qualifies; with one repeat, a warning when the runner-up within budget is too close to call."""
    within = within_budget(reports, lpips_budget)
    if not within:
        scored = any((r.get("metrics") or {}).get("lpips") is not None for r in reports if r["kind"] != "baseline")
        return f" No variant is both faster than the baseline and within LPIPS ≤ {lpips_budget:g}." if scored else ""
    best = within[0]
    text = (f" Fastest within LPIPS ≤ {lpips_budget:g}: {best['name']}, ×{best['speedup']:.2f} "
            f"(LPIPS {best['metrics']['lpips']:.3f}).")
    if repeats == 1 and len(within) > 1 and best["speedup"] / within[1]["speedup"] < CLOSE_CALL:
        text += (f" {within[1]['name']} (×{within[1]['speedup']:.2f}) is within {CLOSE_CALL - 1:.0%} of it on one "
                 f"run: raise Repeats to tell them apart.")
    return text


def distillation_text(reports: list[dict]) -> str:
    """The issue a distilled variant answers, from this run's figures: set against the naive variant of the same
    step count (the base model simply run for as few steps), when both ran and were scored."""
    scored = {r["name"]: r for r in reports if not r.get("error") and (r.get("metrics") or {}).get("lpips") is not None}
    texts = []
    for d_name, n_name in naive_counterparts([(r["name"], r["kind"], r["steps"]) for r in scored.values()]):
        d, n = scored[d_name], scored[n_name]
        dm, nm = d["metrics"], n["metrics"]
        text = (f" At {counted(d['steps'], 'step')}, {d['name']} against {n['name']} "
                f"(the base model run for as few steps): LPIPS {dm['lpips']:.3f} against {nm['lpips']:.3f}")
        if "adherence" in dm and "adherence" in nm:
            text += f", adherence {dm['adherence']:.0%} against {nm['adherence']:.0%}"
        texts.append(text + ".")
    return "".join(texts)


def count_text(reports: list[dict]) -> str:
    """'5 variants, 1 failed.' (how a finished comparison's status begins its account)."""
    failed = sum(1 for r in reports if r.get("error"))
    return counted(len(reports), "variant") + (f", {failed} failed" if failed else "") + "."


def verdict(reports: list[dict], lpips_budget: float, repeats: int) -> str:
    """What a finished comparison's status adds to its counts (and `compare` prints, and report.html shows): why
    LPIPS is missing, which variant the star marks, and what distillation bought over fewer steps."""
    return lpips_note(reports) + pick_text(reports, lpips_budget, repeats) + distillation_text(reports)


def _fmt(value, pattern: str, missing: str = "–") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if value == "inf" or (isinstance(value, float) and math.isinf(value)):
        return "∞"
    return pattern.format(value)


def summary_row(r: dict, price_per_hour: float) -> list:
    t, m, mem, cache = r.get("timings") or {}, r.get("metrics") or {}, r.get("memory") or {}, r.get("cache")
    e2e = t.get("end_to_end_s")

    def num(value, digits):
        return None if value is None or isinstance(value, str) else round(float(value), digits)

    return [r["name"], r["slug"], r["kind"], r["steps"], num(e2e, 3), num(r.get("speedup"), 2),
            num(t.get("per_step_ms"), 2), num(mem.get("peak_bytes", 0) / 1e6 if mem else None, 1),
            num(mem.get("weights_bytes", 0) / 1e6 if mem else None, 2),
            num(cost_per_1000(e2e, price_per_hour) if e2e else None, 4), num(m.get("lpips"), 4),
            num(m.get("psnr") if m.get("psnr") != "inf" else float("inf"), 2), num(m.get("ssim"), 4),
            num(m.get("adherence"), 2),
            None if r.get("error") else f"{cache['computed_steps']}/{r['steps']}" if cache else "all",  # failed: none
            r.get("error") or ""]


def fit(img: Image.Image, size: int) -> Image.Image:
    """`img` with its longer side `size`, its aspect kept: enlarged without smoothing (the embedded models' 64 px
    stay crisp), shrunk with Lanczos (a 1024 px photo without aliasing)."""
    scale = size / max(img.size)
    shape = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(shape, Image.NEAREST if scale >= 1 else Image.LANCZOS)


def png_data_uri(pixels: np.ndarray, size: int | None = None) -> str:
    """An (H, W, 3) float image in [0, 1] as a data URI (PNG), optionally fitted to `size` (see fit)."""
    img = Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))
    if size:
        img = fit(img, size)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def gif_data_uri(frames: np.ndarray, size: int = 192, fps: int = 8) -> str:
    """An (F, H, W, 3) clip as a looping animated GIF data URI (cards play it inline)."""
    images = [fit(Image.fromarray((np.clip(f, 0, 1) * 255).round().astype(np.uint8)), size) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return "data:image/gif;base64," + base64.b64encode(buf.getvalue()).decode()


def media_uri(output: np.ndarray | None) -> str | None:
    if output is None:
        return None
    return png_data_uri(output, 192) if output.ndim == 3 else gif_data_uri(output)


def region_overlay_uri(output: np.ndarray | None, cache: dict | None) -> str | None:
    """The region cache's recompute map (per step, per frame) over the variant's output, as a PNG data URI."""
    region = (cache or {}).get("region")
    if output is None or not region:
        return None
    from studio.metrics.region_overlay import render_region_overlay

    return png_data_uri(render_region_overlay(output, region, max_rows=4, scale=2) / 255.0)


def timeline_html(r: dict) -> str:
    """One cell per step: filled = computed, hollow = reused from the cache."""
    cache = r.get("cache")
    if not cache:
        return ""
    cells = "".join(f'<span class="tl {"on" if c == "computed" else "off"}" title="step {i + 1}: {c}"></span>'
                    for i, c in enumerate(cache["timeline"]))
    return f'<div class="timeline" aria-label="cache timeline">{cells}</div>'


def card_html(r: dict, uri: str | None, price_per_hour: float, best: bool, lpips_budget: float,
              overlay_uri: str | None = None) -> str:
    """A readout card: the image (or clip), timings, memory, cost, quality vs baseline, cache reuse."""
    name = html.escape(r["name"])
    slug = html.escape(r["slug"])
    if r.get("error"):
        return (f'<div class="card failed"><div class="card-title">{name} <code>{slug}</code></div>'
                f'<div class="err">failed: {html.escape(r["error"])}</div></div>')
    t, m, mem, cache = r["timings"], r.get("metrics") or {}, r.get("memory") or {}, r.get("cache")
    lpips = m.get("lpips")
    quality_class = "" if lpips is None else ("good" if lpips <= lpips_budget else "over")
    badge = '<span class="badge">★ fastest within budget</span>' if best else ""
    speed = "reference" if r["kind"] == "baseline" else f"×{_fmt(r.get('speedup'), '{:.2f}')}"
    # a no-break space keeps each number with its unit when a narrow card wraps a value
    rows = [
        ("end-to-end", f"{t['end_to_end_s']:.3f}\u00a0s"),
        ("speedup", speed),
        ("per step", f"{t['per_step_ms']:.1f}\u00a0ms ×\u00a0{r['steps']}"),
        ("peak memory", f"{mem.get('peak_bytes', 0) / 1e6:.0f}\u00a0MB"),
        ("weights", f"{mem.get('weights_bytes', 0) / 1e6:.2f}\u00a0MB"),
        ("$ / 1k gen", f"${cost_per_1000(t['end_to_end_s'], price_per_hour):.4f}"),
    ]
    if r["kind"] != "baseline":
        rows += [("LPIPS", _fmt(lpips, "{:.4f}", "n/a")), ("PSNR", _fmt(m.get("psnr"), "{:.1f}\u00a0dB")),
                 ("SSIM", _fmt(m.get("ssim"), "{:.3f}"))]
    if "adherence" in m:
        rows.append(("adherence", f"{m['adherence']:.0%}"))
    if cache:
        rows.append(("cache", f"{cache['computed_steps']} computed / {cache['reused_steps']} reused"))
    table = "".join(f'<tr><td>{k}</td><td class="v">{v}</td></tr>' for k, v in rows)
    media = (f'<img class="media" src="{uri}" alt="{name} output">' if uri else "")
    turn = (mem.get("turn") or {}).get("sentence")  # the memory budget made it wait or made others wait
    notes_html = f'<div class="turn">memory budget: {html.escape(turn)}</div>' if turn else ""
    if cache and cache.get("note"):  # a cache that saved nothing says why (few steps: nothing to skip)
        notes_html += f'<div class="turn cache-note">cache: {html.escape(cache["note"])}</div>'
    overlay = (f'<details class="regions" open><summary>where the region cache recomputed (tinted: recomputed; '
               f'last row: how often)</summary>'
               f'<img src="{overlay_uri}" alt="{name} recomputed regions per step"></details>'
               if overlay_uri else "")
    classes = f'card {quality_class} {"best" if best else ""} {"wide" if overlay else ""}'
    return (f'<div class="{classes}"><div class="card-title">{name} {badge}'
            f'</div><code class="slug">{slug}</code>{media}<table class="readout">{table}</table>'
            f'{notes_html}{timeline_html(r)}{overlay}</div>')


def pending_card_html(name: str, slug: str, note: str) -> str:
    return (f'<div class="card pending"><div class="card-title">{html.escape(name)}</div>'
            f'<code class="slug">{html.escape(slug)}</code><div class="wait">{html.escape(note)}</div></div>')


def grid_html(cards: list[str]) -> str:
    return f'<div class="grid">{"".join(cards)}</div>'


PER_FRAME_COLUMNS = ["frame", "difference vs baseline", "variant"]
FRAME_TICKS_UP_TO = 16  # up to this many frames, one tick per frame (numbers would get 0.5 ticks); more: numbers


def per_frame_rows(reports: list[dict]) -> list[list]:
    """The per-frame chart's rows (frame, LPIPS or SSIM without it, variant). Short clips label frames as text,
    which the chart draws as one category each, in text order: zero-padded ("01" … "16") so that is frame order.
    Long clips keep numbers."""
    series = []
    for r in reports:
        per_frame = (r.get("metrics") or {}).get("per_frame") or {}
        values = per_frame.get("lpips") or per_frame.get("ssim") or []
        series.append((f"{r['name']} ({'LPIPS' if per_frame.get('lpips') else 'SSIM'})", values))
    frames = max((len(values) for _, values in series), default=0)
    width = len(str(frames))

    def label(frame: int) -> str | int:
        return f"{frame:0{width}d}" if frames <= FRAME_TICKS_UP_TO else frame

    return [[label(i + 1), float(v), name] for name, values in series for i, v in enumerate(values)]


def lpips_note(reports: list[dict]) -> str:
    """Why the cards say LPIPS n/a (weights not prepared, say), for the status line; empty when LPIPS ran."""
    errors = [(r.get("metrics") or {}).get("lpips_error") for r in reports]
    error = next((e for e in errors if e), None)
    return f" {error.rstrip('.')}." if error else ""


def status_html(text: str, fraction: float | None = None) -> str:
    bar = ""
    if fraction is not None:
        bar = f'<div class="bar"><div style="width:{max(0.0, min(1.0, fraction)) * 100:.1f}%"></div></div>'
    return f'<div class="status">{html.escape(text)}{bar}</div>'


CSS = """
.card.wide {flex:0 0 590px; max-width:590px;}
.regions img {max-width:100%; image-rendering:pixelated;}
.regions summary {font-size:0.8em;}
.turn {font-size:0.8em; color:#8a5a00; margin-top:4px;}
.grid {display:flex; flex-wrap:wrap; gap:10px; align-items:flex-start;}  /* a tall region card stretches no other */
/* cards grow to 186px and shrink to 150px, so the five default variants share one row on a laptop screen */
.card {border:1px solid var(--border-color-primary); border-radius:10px; padding:8px; flex:1 1 150px;
       max-width:186px; background:var(--block-background-fill); font-size:13px;}
/* a phone (about 326 px for the grid) fits two cards a row rather than one narrow card beside empty space */
@media (max-width: 640px) {.card {flex:1 1 140px; max-width:none; min-width:0;}
                           .card.wide {flex:1 1 100%; max-width:100%;}}  /* a region card: a row of its own */
.card.best {border:2px solid #16a34a; box-shadow:0 0 0 3px rgba(22,163,74,.15);}
.card.failed {border:2px solid #dc2626;}
.card.pending {opacity:.6;}
.card-title {font-weight:600; font-size:15px; margin-bottom:2px;}
.card .slug {font-size:11px; color:var(--body-text-color-subdued);}
.card img.media {width:100%; max-width:170px; height:auto; image-rendering:pixelated;
                 border-radius:6px; margin:6px 0; display:block;}
.card .readout {width:100%; border-collapse:collapse; border:none !important; margin:0;}
.card .readout td {padding:0 2px !important; border:none !important; background:none !important; font-size:12px;}
.card .readout td.v {text-align:right; font-variant-numeric:tabular-nums;}
.card.over .readout tr:nth-child(7) td.v {color:#dc2626;}
.badge {background:#16a34a; color:white; border-radius:6px; padding:1px 6px; font-size:11px; margin-left:4px;}
.err {color:#dc2626; margin-top:8px; word-break:break-word;}
.wait {margin-top:8px;}
.timeline {display:flex; gap:1px; margin-top:6px; flex-wrap:wrap;}
.timeline .tl {width:3px; height:12px; border-radius:1px;}
.timeline .tl.on {background:#2563eb;}
.timeline .tl.off {background:transparent; outline:1px solid #93c5fd;}
.status {font-size:14px; padding:4px 0;}
.status .bar {height:6px; background:var(--border-color-primary); border-radius:3px; margin-top:4px;}
.status .bar div {height:6px; background:#2563eb; border-radius:3px;}
.unknown {color:#dc2626;}
/* gradio's table headers broke inside words ("ste ps", "weigh ts MB"); between words they read */
span.header.text {word-break:normal !important; overflow-wrap:normal !important;}
"""
