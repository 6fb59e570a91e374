"""The page's input checks that the components alone do not enforce (API callers can send anything)."""

import pytest

from studio.inputs import InputError, check_repeats


@pytest.mark.parametrize("value, expected", [(None, 1), ("", 1), (1, 1), (3.0, 3), (5, 5)])
def test_repeats_accepted(value, expected):
    assert check_repeats(value) == expected


@pytest.mark.parametrize("value", [0, 6, 2.5, True, -1])
def test_repeats_refused_with_the_allowed_range(value):
    with pytest.raises(InputError, match="repeats must be a whole number from 1 to 5"):
        check_repeats(value)


def test_a_recipe_chosen_twice_runs_once_under_its_first_name():
    """'base' typed beside the ticked baseline (the same recipe) ran the baseline twice; a bench already kept one."""
    from studio.inputs import parse_variants, variant_names
    from studio.presets import load_preset

    chosen = parse_variants(load_preset("tiny-image"), variant_names(["baseline", "distilled"],
                                                                    "base, student-s4-uniform-g1, int8wo"))
    assert [(v.name, v.slug) for v in chosen] == [("baseline", "base"), ("distilled", "student-s4-uniform-g1"),
                                                  ("int8wo", "int8wo")]
