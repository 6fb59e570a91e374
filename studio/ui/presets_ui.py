"""Presets for UI handlers: the dropdown's choices, and lookup where a bad name becomes a message (gr.Error)."""

import gradio as gr

from studio.presets import Preset, PresetError, list_presets, load_preset

EMBEDDED = ("tiny-image", "tiny-video")


def preset_or_error(name: str) -> Preset:
    try:
        return load_preset(name)
    except PresetError as e:
        raise gr.Error(str(e)) from None


def preset_choices() -> list[tuple[str, str]]:
    """Embedded presets first, then real models labelled with what they need."""
    names = list_presets()
    ordered = [n for n in EMBEDDED if n in names] + [n for n in names if n not in EMBEDDED]
    out = []
    for name in ordered:
        p = load_preset(name)
        out.append((f"{p.title}" if name in EMBEDDED else f"{p.title} — needs a GPU", name))
    return out
