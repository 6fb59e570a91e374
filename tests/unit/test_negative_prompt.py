"""Negative prompts: taken where the pipeline uses one, refused (not silently ignored) where it would not."""

import pytest

from studio.inputs import InputError, check_negative_prompt
from studio.presets import load_preset
from studio.ui import links
from studio.ui.compare_code import recommended_code


@pytest.mark.parametrize("preset", ["sdxl", "sd35-large", "sana", "wan21-t2v-1.3b", "ltx-video"])
def test_pipelines_that_use_a_negative_prompt_take_it(preset):
    assert check_negative_prompt(load_preset(preset), "  blurry, low quality ") == "blurry, low quality"
    assert check_negative_prompt(load_preset(preset), " ") is None


@pytest.mark.parametrize("preset", ["flux1-dev", "flux2-klein", "tiny-image", "tiny-video"])
def test_pipelines_that_would_ignore_it_refuse_it(preset):
    with pytest.raises(InputError, match=f"preset '{preset}' .* takes no negative prompt; presets whose pipelines do"):
        check_negative_prompt(load_preset(preset), "blurry")
    assert check_negative_prompt(load_preset(preset), "") is None


def test_a_long_negative_prompt_is_refused():
    with pytest.raises(InputError, match="the negative prompt has 2001 characters; at most 2000"):
        check_negative_prompt(load_preset("sdxl"), "x" * 2001)


def test_links_commands_and_code_carry_it():
    setup = links.validated_setup("sdxl", "a fox", 1, None, ["baseline"], "", 1, "", "blurry")
    assert "negative=blurry" in links.setup_link(setup) and "--negative-prompt blurry" in links.setup_command(setup)
    assert links.read_setup({"preset": "sdxl", "negative": "blurry"}, "tiny-image").negative_prompt == "blurry"
    refused = links.read_setup({"preset": "tiny-image", "negative": "blurry", "seed": "2"}, "tiny-image")
    assert refused.negative_prompt is None and refused.seed == 2 and "takes no negative prompt" in refused.problems[0]
    report = {"preset": "sdxl", "prompt": "a fox", "negative_prompt": "blurry", "seed": 1, "variants": [
        {"name": "baseline", "slug": "base", "kind": "baseline", "steps": 30, "error": None, "metrics": {}}]}
    code = recommended_code(report, 0.1)[1]
    assert "NEGATIVE_PROMPT = 'blurry'" in code and 'kwargs["negative_prompt"] = NEGATIVE_PROMPT' in code
