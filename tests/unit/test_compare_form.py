"""The Compare form: one value for the page's inputs, in the order of the API's parameters."""

import inspect

import pytest

from studio.ui import app, compare_run
from studio.ui.compare_form import COMPARE_FIELDS, SETUP_FIELDS, CompareForm, FormError


def _parameters(handler) -> list[str]:
    names = list(inspect.signature(handler).parameters)
    return ["preset" if n == "name" else n for n in names]  # the API calls the preset "name"


def test_the_form_orders_its_fields_as_the_api_orders_its_parameters():
    assert _parameters(compare_run.compare)[:len(COMPARE_FIELDS)] == list(COMPARE_FIELDS)
    assert _parameters(app.share_setup)[:len(SETUP_FIELDS)] == list(SETUP_FIELDS)
    assert set(SETUP_FIELDS) <= set(COMPARE_FIELDS)


def test_a_form_is_checked_whole_and_a_shared_setup_keeps_its_fields():
    checked = CompareForm.of("tiny-image", " a red circle ", 3, 0, ["baseline", "naive4"], "int8wo", 2.5, 0.2, 2,
                             "96x64").checked()
    assert (checked.setup.prompt, checked.setup.seed, checked.setup.repeats, checked.setup.size) == (
        "a red circle", 3, 2, "96x64")
    assert [v.name for v in checked.variants] == ["baseline", "naive4", "int8wo"]
    assert (checked.price, checked.budget) == (2.5, 0.2)
    shared = CompareForm.of_setup("tiny-image", "a red circle", 3, 0, ["baseline"], "", 2, "96x64")
    assert (shared.repeats, shared.size, shared.price) == (2, "96x64", None)


@pytest.mark.parametrize("field, value, words", [
    ("preset", "nope", "nope"),
    ("prompt", "a pink circle", "pink"),
    ("chosen", ["baseline", "nope"], "nope"),
    ("price", -1, r"\$ per hour"),
    ("budget", 0, "LPIPS budget"),
    ("size", "100x64", "width 100 not allowed"),
])
def test_each_refusal_names_what_is_wrong(field, value, words):
    good = dict(preset="tiny-image", prompt="a red circle", chosen=["baseline"], price=1.0, budget=0.1)
    with pytest.raises(FormError, match=words):
        CompareForm(**{**good, field: value}).checked()


@pytest.mark.parametrize("field, value, words", [  # what an API caller may send in place of the page's widgets
    ("prompt", 5, "the prompt must be text, got int"),
    ("negative", 5, "the negative prompt must be text"),
    ("seed", "abc", "the seed must be a whole number"),
    ("seed", float("inf"), "the seed must be a whole number"),
    ("seed", float("nan"), "the seed must be a whole number"),
    ("seed", [1], "the seed must be a whole number"),
    ("steps", "x", "steps must be a whole number"),
    ("repeats", "x", "repeats must be a whole number"),
    ("custom", 5, "custom variants must be text"),
    ("chosen", [3], "variant names must be text"),
])
def test_wrong_kinds_of_value_are_refused_with_what_is_allowed(field, value, words):
    good = dict(preset="tiny-image", prompt="a red circle", chosen=["baseline"], price=1.0, budget=0.1)
    with pytest.raises(FormError, match=words):
        CompareForm(**{**good, field: value}).checked()


def test_numbers_written_as_text_and_variants_as_one_comma_list_are_taken():
    checked = CompareForm("tiny-image", "a red circle", "7", "8", "baseline, naive4", "", 1.5, "0.2", "2").checked()
    assert (checked.setup.seed, checked.setup.steps, checked.setup.repeats) == (7, 8, 2)
    assert checked.setup.variants == ("baseline", "naive4") and (checked.price, checked.budget) == (1.5, 0.2)
