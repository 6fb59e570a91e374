"""Preset lookup for UI handlers: a bad name becomes a message in the page (gr.Error), not a traceback."""

import gradio as gr

from studio.presets import Preset, PresetError, load_preset


def preset_or_error(name: str) -> Preset:
    try:
        return load_preset(name)
    except PresetError as e:
        raise gr.Error(str(e)) from None
