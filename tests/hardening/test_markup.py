"""Text a shared setup link can set (the prompt, variant names) reaches the page as text, never as markup."""

import pytest

from studio.ui import app, readouts
from studio.ui.links import read_setup

ATTACK = "<svg/onload=alert(1)>"


@pytest.mark.parametrize("prompt", [f"a red circle {ATTACK}", f"a red circle at the {ATTACK} left", "a <b>red</b> x"])
def test_the_prompt_check_escapes_the_words_it_quotes(prompt):
    shown = app.check_prompt_words("tiny-image", prompt)
    assert "<svg" not in shown and "<b>red" not in shown and "&lt;" in shown


def test_a_links_bad_parts_are_quoted_as_text_in_the_status():
    setup = read_setup({"variants": f"baseline,{ATTACK}", "seed": ATTACK}, "tiny-image")
    status = readouts.status_html(" Left out of the link: " + "; ".join(setup.problems))
    assert ATTACK not in status and "&lt;svg" in status
