"""Output sizes: checked against each pipeline's rules before a run, carried by links, commands and reports."""

import json

import numpy as np
import pytest

from studio.inputs import InputError
from studio.presets import load_preset
from studio.sizes import Size, default_size, parse_size, report_width
from studio.ui import compare_history, links
from studio.ui.compare_report import render_compare_html


@pytest.mark.parametrize("preset, text, expected", [
    ("flux1-dev", "1344x768", Size(1344, 768)),
    ("flux1-dev", " 768 × 1344 ", Size(768, 1344)),
    ("sdxl", "1152x896", Size(1152, 896)),
    ("wan21-t2v-1.3b", "832x480x33", Size(832, 480, 33)),
    ("wan21-t2v-1.3b", "480x832", Size(480, 832, 81)),  # frames: the preset's
    ("ltx-video", "704x480x97", Size(704, 480, 97)),
    ("tiny-video", "96x64x16", Size(96, 64, 16)),
    ("tiny-image", "", None),
    ("tiny-image", None, None),
])
def test_sizes_each_pipeline_takes(preset, text, expected):
    assert parse_size(load_preset(preset), text) == expected


@pytest.mark.parametrize("preset, text, words", [
    ("flux1-dev", "1000x768", ["width 1000 not allowed",
                               "WxH, both multiples of 16 from 64 to 2048 (the preset's: 1024x1024)"]),
    ("flux1-dev", "4096x4096", ["width 4096, height 4096 not allowed"]),
    ("sana", "1000x1024", ["multiples of 32"]),
    ("tiny-image", "64x64x8", ["frames 8 (an image preset)"]),
    ("wan21-t2v-1.3b", "832x480x80", ["frames 80 not allowed", "F 1 + a multiple of 4 up to 257"]),
    ("ltx-video", "768x512x120", ["F 1 + a multiple of 8"]),
    ("tiny-video", "64x64x40", ["frames 40", "up to 32", "(the preset's: 64x64x8)"]),
    ("tiny-video", "64x64x12", ["frames 12 not allowed", "F a multiple of 8"]),
    ("tiny-image", "big", ["size 'big' is not WxH"]),
    ("tiny-image", "64*64", ["is not WxH"]),
])
def test_sizes_a_pipeline_cannot_take_are_refused_saying_what_it_can(preset, text, words):
    with pytest.raises(InputError) as e:
        parse_size(load_preset(preset), text)
    for word in words:
        assert word in str(e.value)


def test_a_setup_link_and_command_carry_the_size_and_leave_out_the_presets_own():
    setup = links.validated_setup("tiny-image", "a red circle", 3, None, ["baseline"], "", 1, "128×96")
    assert setup.size == "128x96"
    link = links.setup_link(setup, "http://h/")
    assert "size=128x96" in link and "--size 128x96" in links.setup_command(setup)
    back = links.read_setup({"preset": "tiny-image", "size": "128x96"}, "tiny-image")
    assert back.size == "128x96" and not back.problems
    own = links.validated_setup("tiny-image", "a red circle", 3, None, ["baseline"], "", 1, "64x64")
    assert own.size is None and "size" not in links.setup_link(own) and "--size" not in links.setup_command(own)
    bad = links.read_setup({"preset": "tiny-image", "size": "100x64", "seed": "4"}, "tiny-image")
    assert bad.size is None and bad.seed == 4 and "width 100 not allowed" in bad.problems[0]
    with pytest.raises(InputError, match="width 100 not allowed"):
        links.validated_setup("tiny-image", "a red circle", 3, None, ["baseline"], "", 1, "100x64")


def test_report_html_runs_it_again_at_the_same_size():
    report = {"preset": "tiny-image", "prompt": "a red circle", "seed": 1, "size": "128x96", "variants": []}
    page = render_compare_html(report, {}, 1.0, 0.1)
    assert "--size 128x96" in page and "· 128x96 ·" in page
    assert "--size" not in render_compare_html({**report, "size": default_size(load_preset("tiny-image"))}, {}, 1.0,
                                               0.1)


def test_a_kept_video_comparison_at_another_size_opens_with_its_frames(tmp_path):
    """A video's frames are kept side by side in one PNG: reading them back needs the width it ran at."""
    preset = load_preset("tiny-video")
    clip = np.random.default_rng(0).random((16, 48, 80, 3)).astype(np.float32)
    report = {"preset": preset.name, "prompt": "a red circle", "seed": 0, "size": "80x48x16",
              "variants": [{"name": "baseline", "slug": "base", "kind": "baseline"}]}
    name = compare_history.new_name(preset.name, "a red circle")
    compare_history.save(tmp_path, name, report, {"base": clip})
    opened, outputs = compare_history.load(tmp_path, name)
    assert opened["size"] == "80x48x16" and outputs["base"].shape == clip.shape
    np.testing.assert_allclose(outputs["base"], clip, atol=1 / 255)
    older = json.loads((tmp_path / name / "report.json").read_text())
    assert report_width({k: v for k, v in older.items() if k != "size"}, preset) == preset.width


def _decoded(uri: str):
    import base64
    import io

    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_cards_and_the_ab_view_keep_the_outputs_shape():
    from studio.ui import ab_view, readouts

    wide = np.zeros((96, 128, 3), np.float32)
    assert _decoded(readouts.media_uri(wide)).size == (192, 144)  # enlarged, 4:3 kept (it was squeezed square)
    assert _decoded(readouts.media_uri(np.zeros((8, 48, 80, 3), np.float32))).size == (192, 115)
    photo = np.zeros((1024, 768, 3), np.float32)
    assert _decoded(readouts.media_uri(photo)).size == (144, 192)
    assert ab_view.enlarge(photo).shape == (1024, 768, 3)  # a real model's image is not enlarged six times (113 MB)
    assert ab_view.enlarge(np.zeros((64, 64, 3), np.float32)).shape == (384, 384, 3)
    state = {"outputs": {"base": wide, "s4": wide + 0.1}, "names": {"baseline": "base", "naive4": "s4"}}
    left, right = ab_view.ab_view("naive4", True, state)
    assert left.shape == (288, 384, 3) and right.shape == (288, 384, 3)
