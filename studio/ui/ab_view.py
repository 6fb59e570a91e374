"""The A/B view: one finished variant against another on a slider, or their difference heatmap (Compare page)."""

from __future__ import annotations

import gradio as gr
import numpy as np

from studio.ui import readouts


def ab_view(name: str, heatmap: bool, state: dict, against: str | None = "baseline"):
    """The chosen variant against another finished one (the baseline unless `against` names one) on a slider,
    reference on the left; or their difference heatmap in place of the variant. Distilled against naive4 shows
    what distillation adds to simply running fewer steps."""
    if not state or not name or name not in state.get("names", {}):
        return None
    outputs, names = state["outputs"], state["names"]
    if against and against not in names and against != "baseline":
        raise gr.Error(f"'{against}' is not in the last comparison; it ran: {', '.join(names)}")
    base_slug = names.get(against or "baseline") or names.get("baseline") or next(iter(names.values()))
    base, other = outputs.get(base_slug), outputs.get(names[name])
    if base is None or other is None:
        return None
    if base.ndim == 4:  # video: the middle frame
        base, other = base[len(base) // 2], other[len(other) // 2]
    if heatmap:
        from studio.metrics import difference_heatmap

        right = np.asarray(readouts.fit(difference_heatmap(base, other).convert("RGB"), 384))
    else:
        right = enlarge(other)
    return (enlarge(base), right)


def reference_choices(state: dict | None):
    """What the A/B view can set a variant against: every variant the last run finished, the baseline first."""
    state = state or {}
    names = [n for n, slug in (state.get("names") or {}).items() if slug in (state.get("outputs") or {})]
    choices = sorted(names, key=lambda n: n != "baseline") or ["baseline"]
    return gr.update(choices=choices, value=choices[0])


def enlarge(pixels: np.ndarray) -> np.ndarray:
    """A small output enlarged for the A/B slider (whole pixels, no smoothing); a large one as it is (the browser
    scales it: a 1024 px image enlarged 6 times would be 113 MB)."""
    factor = max(1, 384 // max(pixels.shape[:2]))
    return np.kron((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), np.ones((factor, factor, 1), np.uint8))
