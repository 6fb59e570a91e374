"""A minimal page on the embedded models: prompt in, the baseline and a few variants out, with timings.

UI code never does model work: handlers build a request, hand it to the engine, and format what comes back.
"""

from __future__ import annotations

import threading

import gradio as gr

from studio.presets import list_presets, load_preset
from studio.tiny.language import (
    EXAMPLE_IMAGE_PROMPTS,
    EXAMPLE_VIDEO_PROMPTS,
    PromptError,
    parse_prompt,
    vocabulary_text,
)

EMBEDDED = ("tiny-image", "tiny-video")
_engines: dict = {}
_engines_lock = threading.Lock()


def _engine(name: str):
    from studio.engine.runner import Engine  # the engine loads lazily: no model work at import time

    with _engines_lock:
        if name not in _engines:
            _engines[name] = Engine(load_preset(name))
        return _engines[name]


def generate(preset_name: str, prompt: str, seed: float, variants: list[str]):
    """Run the chosen variants; returns gallery items and a markdown table of readouts."""
    if preset_name not in EMBEDDED:
        raise gr.Error(f"this page runs the embedded presets only ({', '.join(EMBEDDED)})")
    preset = load_preset(preset_name)
    try:
        parse_prompt(prompt, video=preset.media == "video")
    except PromptError as e:
        raise gr.Error(str(e)) from None
    if seed is None or not 0 <= int(seed) < 2**31:
        raise gr.Error("seed must be an integer from 0 to 2147483647")
    if not variants:
        raise gr.Error(f"pick at least one variant: {', '.join(preset.variants)}")
    from studio.engine.runner import RunRequest

    engine = _engine(preset_name)
    results = engine.compare(RunRequest(prompt, seed=int(seed)), [preset.variant(v) for v in variants])
    gallery, rows = [], ["| variant | slug | end-to-end | speedup | note |", "|---|---|---|---|---|"]
    for r in results:
        if r.error:
            rows.append(f"| {r.name} | {r.slug} | failed | | {r.error} |")
            continue
        image = r.output if r.output.ndim == 3 else r.output.reshape(-1, *r.output.shape[2:])  # frames stacked
        gallery.append(((image * 255).clip(0, 255).astype("uint8"), f"{r.name} ({r.timings['end_to_end_s']:.2f} s)"))
        rows.append(f"| {r.name} | {r.slug} | {r.timings['end_to_end_s']:.3f} s | x{r.speedup or 1:.2f} | |")
    return gallery, "\n".join(rows)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Speed-Up Studio") as demo:
        gr.Markdown("# Speed-Up Studio\nCompare diffusion speed-ups side by side. Embedded models run on a CPU.\n\n"
                    f"**Prompt language:** {vocabulary_text()}")
        with gr.Row():
            preset = gr.Dropdown([p for p in list_presets() if p in EMBEDDED], value="tiny-image", label="Preset")
            seed = gr.Number(value=0, precision=0, label="Seed")
        prompt = gr.Textbox(value=EXAMPLE_IMAGE_PROMPTS[0], label="Prompt")
        gr.Examples([[p] for p in EXAMPLE_IMAGE_PROMPTS + EXAMPLE_VIDEO_PROMPTS], inputs=[prompt])
        variants = gr.CheckboxGroup(["baseline", "int8", "teacache", "fbc", "naive4"],
                                    value=["baseline", "int8", "teacache", "naive4"], label="Variants")
        run = gr.Button("Generate", variant="primary")
        gallery = gr.Gallery(label="Results", columns=5, height=320)
        table = gr.Markdown()
        run.click(generate, [preset, prompt, seed, variants], [gallery, table], api_name="generate",
                  concurrency_id="gpu", concurrency_limit=1)
    return demo
