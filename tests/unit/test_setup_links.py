"""Setup links: Compare's inputs as an address a colleague opens, and back; a bad part is left out and named."""

from urllib.parse import parse_qsl, urlsplit

import pytest

from studio.inputs import InputError
from studio.ui.links import Setup, base_url, read_setup, setup_command, setup_link, validated_setup


def _params(link: str) -> dict:
    return dict(parse_qsl(urlsplit(link).query))


def test_a_setup_survives_the_round_trip_through_its_link():
    setup = validated_setup("tiny-video", " a small blue square at the left moving right ", 7, 20,
                            ["baseline", "distilled"], "int8wo-tea0.2, s8", repeats=3)
    link = setup_link(setup, "https://team.hf.space/?spotcheck=x#top")
    assert link.startswith("https://team.hf.space/?preset=tiny-video&prompt=a+small+blue")
    back = read_setup(_params(link), "tiny-image")
    assert back == Setup("tiny-video", "a small blue square at the left moving right", 7, 20,
                         ("baseline", "distilled", "int8wo-tea0.2", "s8"), repeats=3)
    assert back.chosen_and_custom({"baseline": 0, "distilled": 0}) == (["baseline", "distilled"], "int8wo-tea0.2, s8")


def test_the_command_runs_the_same_comparison():
    setup = validated_setup("tiny-image", "a red circle", 3, 0, ["baseline", "naive4"], "")
    assert setup_command(setup) == ("python -m studio compare --preset tiny-image --prompt 'a red circle' --seed 3 "
                                    "--variants baseline,naive4")
    assert "--repeats 2" in setup_command(validated_setup("tiny-image", "a red circle", 3, 0, ["baseline"], "", 2))


@pytest.mark.parametrize("args, says", [
    (("tiny-image", "  ", 0, 0, ["baseline"], ""), "prompt is empty"),
    (("tiny-image", "a pink dragon", 0, 0, ["baseline"], ""), "unknown word"),
    (("tiny-image", "a red circle", -1, 0, ["baseline"], ""), "seed must be"),
    (("tiny-image", "a red circle", 0, 0, [], "tea9"), "out of range"),
    (("tiny-image", "a red circle", 0, 0, [], ""), "no variants chosen"),
    (("tiny-image", "a red circle", 0, 0, ["baseline"], "", 9), "repeats must be"),
])
def test_sharing_refuses_what_a_run_would_refuse(args, says):
    with pytest.raises(InputError, match=says):
        validated_setup(*args)


def test_an_address_without_a_setup_changes_nothing():
    assert read_setup({}, "tiny-image") is None
    assert read_setup({"spotcheck": "abc123"}, "tiny-image") is None  # a rater's link is the Spot-check tab's


def test_each_bad_part_is_left_out_and_named_and_the_rest_kept():
    setup = read_setup({"preset": "nope", "prompt": "a green triangle", "seed": "x1", "steps": "5000",
                        "repeats": "0", "variants": "baseline,warp9,naive4"}, "tiny-image")
    assert (setup.preset, setup.prompt, setup.seed, setup.steps, setup.repeats) == \
        ("tiny-image", "a green triangle", None, None, None)
    assert setup.variants == ("baseline", "naive4")
    said = " | ".join(setup.problems)
    assert "preset: unknown preset 'nope'" in said and "seed: 'x1'" in said and "steps: '5000'" in said
    assert "variants 'warp9': not variants of preset 'tiny-image' (its variants: baseline, int8" in said
    assert "repeats: '0'" in said


def test_unknown_variants_are_named_once_and_a_recipe_that_cannot_run_keeps_its_reason():
    setup = read_setup({"variants": "baseline,nope,../x,region0.2-s4,distilled"}, "tiny-image")
    assert setup.variants == ("baseline", "distilled")
    unknown = [p for p in setup.problems if p.startswith("variants ")]
    assert len(unknown) == 1 and unknown[0].startswith("variants 'nope', '../x': not variants of preset")
    assert "Parts:" not in unknown[0]  # no slug lesson per typo
    assert any(p.startswith("variant: ") and "warmup_steps" in p for p in setup.problems)  # a slug it refuses


def test_an_overlong_prompt_or_too_many_variants_are_bounded():
    setup = read_setup({"prompt": "a" * 2001, "variants": ",".join(f"tea0.{i:02d}" for i in range(1, 20))},
                       "tiny-image")
    assert setup.prompt is None and len(setup.variants) == 16
    assert any("prompt" in p for p in setup.problems) and any("first 16 kept" in p for p in setup.problems)


def test_base_url_follows_the_proxy():
    class Request:
        headers = {"host": "10.0.0.5:7860", "x-forwarded-host": "team.hf.space", "x-forwarded-proto": "https"}
    assert base_url(Request()) == "https://team.hf.space/"
    assert base_url(None) == ""


def test_a_prompt_with_backticks_cannot_close_the_command_block():
    from studio.ui.links import code_block

    block = code_block("python -m studio compare --prompt 'a ``` b ```` c'")
    assert block.startswith("`````\n") and block.endswith("\n`````")
    assert code_block("plain").startswith("```\n")
