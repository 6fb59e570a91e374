"""Presets for UI handlers: the dropdown's choices, and lookup where a bad name becomes a message (gr.Error)."""

import logging

import gradio as gr

from studio.presets import Preset, PresetError, is_user_preset, list_presets, load_preset

EMBEDDED = ("tiny-image", "tiny-video")
log = logging.getLogger("studio")


def preset_or_error(name: str) -> Preset:
    try:
        return load_preset(name)
    except PresetError as e:
        raise gr.Error(str(e)) from None


def preset_choices() -> list[tuple[str, str]]:
    """Embedded presets first, then the team's own (STUDIO_PRESETS_DIR), then real models; each labelled with
    what it needs. Read afresh on each call, so a preset of yours added while the app runs is listed at the next
    page load; one that does not load then is left out and logged (the app checked every file at its start)."""
    names = list_presets()
    yours = [n for n in names if is_user_preset(n)]
    ordered = [n for n in EMBEDDED if n in names] + yours + [n for n in names if n not in EMBEDDED and n not in yours]
    out = []
    for name in ordered:
        try:
            p = load_preset(name)
        except PresetError as e:
            if name not in yours:  # a shipped preset that does not load is a bug: say so loudly
                raise
            log.warning("STUDIO_PRESETS_DIR: %s: not listed: %s", name, e)
            continue
        label = p.title + (" — yours" if name in yours else "") + ("" if p.pipeline == "tiny" else " — needs a GPU")
        out.append((label, name))
    return out
