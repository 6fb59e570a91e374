"""A memory budget makes variants take turns: the resident set stays within it, results stay the same."""

import numpy as np
import pytest

from studio.cli import main as cli_main
from studio.engine.request import RunRequest
from studio.engine.runner import Engine
from studio.presets import load_preset
from studio.ui.readouts import card_html

REQUEST = RunRequest(prompt="a large red circle at the left", seed=3, steps=6, warmup=False)


@pytest.fixture(scope="module")
def preset():
    return load_preset("tiny-image")


def _run(engine, preset, names):
    return {r.name: r for r in engine.compare(REQUEST, [preset.variants[n] for n in names])}


def test_variants_take_turns_within_the_budget_and_give_the_same_pictures(preset):
    free = Engine(preset)
    unlimited = _run(free, preset, ["baseline", "int8", "int8dq"])
    base_only = Engine(preset)
    base_only.base_pipeline()
    one_copy = (free.resident_bytes() - base_only.resident_bytes()) // 2
    budget = base_only.resident_bytes() + int(1.5 * one_copy)  # room for the base and one quantized copy, not two
    engine = Engine(preset, memory_budget_bytes=budget)

    first = _run(engine, preset, ["baseline", "int8", "int8dq"])
    assert first["int8dq"].memory["turn"]["made_room_by"] == ["int8wo (released; rebuilt on its next turn)"]
    assert "made room by int8wo" in first["int8dq"].memory["turn"]["sentence"]
    again = _run(engine, preset, ["int8"])["int8"]
    turn = again.memory["turn"]
    assert turn["waited"] and turn["made_room_by"] == ["int8dq (released; rebuilt on its next turn)"]
    for r in [*first.values(), again]:
        assert r.error is None
        assert r.memory["turn"]["resident_bytes"] <= budget and not r.memory["turn"]["over_budget"]
    assert engine.resident_bytes() <= budget < free.resident_bytes()
    # Taking turns changes where weights live, never what a variant computes.
    for name in ("baseline", "int8", "int8dq"):
        np.testing.assert_array_equal(first[name].output, unlimited[name].output)
    np.testing.assert_array_equal(again.output, unlimited["int8"].output)
    assert "memory budget: waited for its turn" in card_html(again.to_report(), None, 1.0, False, 0.1)


def test_budget_too_small_for_any_variant_runs_and_says_so(preset):
    engine = Engine(preset, memory_budget_bytes=1_000)
    results = _run(engine, preset, ["baseline", "int8"])
    assert all(r.error is None for r in results.values())
    assert results["int8"].memory["turn"]["over_budget"]
    assert "still over the" in results["int8"].memory["turn"]["sentence"]


@pytest.mark.parametrize("value", ["abc", "0", "-3", "nan", "inf"])
def test_cli_rejects_a_bad_budget(value, tmp_path, capsys):
    code = cli_main(["compare", "--preset", "tiny-image", "--prompt", "a red circle", "--variants", "baseline",
                     "--memory-budget-gb", value, "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "--memory-budget-gb" in err and "number of GB" in err
