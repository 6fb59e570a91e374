"""The studio's claim about its own students, held on a few held-out prompts: each shipped student, at every step
count a preset offers it, draws the 50-step picture more closely (LPIPS to the same-seed baseline) than the base
model run for as few steps. The 200-prompt figures are in the README; this catches a student or preset that broke."""

import json

import pytest

from studio.cli import main
from studio.metrics import lpips_status
from studio.presets import load_preset
from studio.variant import naive_counterparts

pytestmark = pytest.mark.skipif(not lpips_status()[0], reason="LPIPS weights not prepared "
                                "(python -m studio.metrics.prepare)")


@pytest.mark.parametrize("name", ["tiny-image", "tiny-video"])
def test_every_distilled_variant_is_closer_to_the_baseline_than_naive_few_step(name, tmp_path, capsys):
    preset = load_preset(name)
    pairs = list(naive_counterparts([(n, v.kind(preset.steps), v.steps or preset.steps)
                                     for n, v in preset.variants.items()]))
    assert {d for d, _ in pairs} >= {"distilled", "distilled2", "distilled1"}
    variants = ["baseline", *dict.fromkeys(n for pair in pairs for n in pair)]
    assert main(["bench", "--preset", name, "--variants", ",".join(variants), "--count", "4",
                 "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["variants"]
    for distilled, naive in pairs:
        assert summary[distilled]["lpips_mean"] < 0.6 * summary[naive]["lpips_mean"], (distilled, naive, summary)
