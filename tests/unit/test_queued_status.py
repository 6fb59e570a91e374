"""Between a click on Generate and the lane picking the run up, the status says what will happen, not the last run."""

import pytest

from studio.ui import compare_run

GOOD = ("tiny-image", "a red circle", 0, 0, ["baseline", "int8"], "", 1.0, 0.1, 1)


def _status(*inputs) -> str:
    status, download, code = compare_run.queued_status(*inputs)
    for stale in (download, code):  # the last comparison's zip and code are stale
        assert stale["visible"] is False and stale["value"] is None
    return status


def test_a_run_says_whether_it_starts_or_waits_its_turn():
    from studio.ui import lane

    assert "Starting…" in _status(*GOOD)  # the lane is free
    with lane.busy():  # another comparison or a bench holds it
        assert "Queued: another comparison or bench is running (one at a time)" in _status(*GOOD)
    assert not lane.in_use()


@pytest.mark.parametrize("position, value, words", [
    (1, "a pink circle", "unknown word(s) &#x27;pink&#x27;"),
    (4, ["baseline", "nope"], "nope"),
    (6, -2.0, "$ per hour"),
    (7, 0, "LPIPS budget"),
    (8, 9, "repeats"),
])
def test_a_run_that_will_be_refused_says_why(position, value, words):
    inputs = list(GOOD)
    inputs[position] = value
    status = _status(*inputs)
    assert "Not run:" in status and words.lower() in status.lower(), status


def test_on_zerogpu_the_machine_is_left_to_the_run(monkeypatch):
    # there the GPU is lent to the run, not to the process that answers the click
    real = ("flux1-dev", "a red fox", 0, 0, ["baseline"], "", 1.0, 0.1, 1)
    assert "Not run:" in _status(*real) and "no CUDA GPU" in _status(*real)  # this CPU machine
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert "Starting…" in _status(*real)
