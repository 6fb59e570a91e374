"""The compare page's variant builder: it offers the chosen preset's weights and refuses what the preset cannot run.

It once offered 'student' on every preset (real presets name theirs 'distilled' or 'lora') and appended any slug,
so a bad stack surfaced only after pressing Generate.
"""

import gradio as gr
import pytest

from studio.ui import app


def _weights_choices(preset: str) -> list[str]:
    update = app.describe_preset(preset)[5]  # info, variants, prompt, clip, chart, builder weights, examples
    return [c[0] if isinstance(c, (tuple, list)) else c for c in update["choices"]]


def test_weights_choices_follow_the_preset():
    assert _weights_choices("tiny-image") == ["base", "student", "student1"]  # the 4-step and the one-call students
    assert _weights_choices("flux1-dev") == ["base", "distilled", "lora"]


def test_a_stack_of_the_presets_own_weights_is_appended():
    assert app.build_variant("flux1-dev", "distilled", "int8wo", "none", 0.15, 4, "s8") == "s8, distilled-int8wo-s4"
    assert app.build_variant("tiny-image", "student", "none", "tea", 0.2, None, "") == "student-tea0.2"
    assert app.build_variant("tiny-image", "base", "none", "none", 0.2, 0, "") == "baseline"
    assert app.build_variant("tiny-image", "student1", "int8wo", "none", 0.2, 1, "") == "student1-int8wo-s1"


@pytest.mark.parametrize("preset, weights, steps, says", [
    ("tiny-image", "distilled", 4, "no 'distilled' weights"),  # the tiny presets call theirs 'student'
    ("flux1-dev", "student", 4, "no 'student' weights"),
    ("tiny-image", "base", -3, "steps must be a whole number from 1 to 1000"),
    ("tiny-image", "base", 2.5, "steps must be a whole number from 1 to 1000"),
])
def test_a_recipe_the_preset_cannot_run_is_refused_with_what_is_allowed(preset, weights, steps, says):
    with pytest.raises(gr.Error, match=says):
        app.build_variant(preset, weights, "int8wo", "none", 0.15, steps, "s8")
