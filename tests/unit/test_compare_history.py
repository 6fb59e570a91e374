"""Finished comparisons kept on disk for their browser: names, pruning, the remembered list, reading back."""

import logging

import numpy as np
import pytest

from studio.ui import compare_history

REPORT = {"preset": "tiny-image", "prompt": "a red circle", "seed": 0, "variants": [
    {"name": "baseline", "slug": "base", "kind": "baseline", "steps": 50}]}


def test_saved_comparisons_read_back_and_the_oldest_go(tmp_path, monkeypatch):
    monkeypatch.setattr(compare_history, "KEEP", 2)
    names = [f"2026120{i}-120000-tiny-image-a-red-circle-0000000{i}" for i in range(1, 4)]
    for name in names:
        compare_history.save(tmp_path, name, REPORT, {"base": np.full((64, 64, 3), 0.5)})
    assert sorted(p.name for p in tmp_path.iterdir()) == names[1:]  # the oldest removed
    report, outputs = compare_history.load(tmp_path, names[2])
    assert report["prompt"] == "a red circle" and outputs["base"].shape == (64, 64, 3)
    with pytest.raises(ValueError, match="no longer kept"):
        compare_history.load(tmp_path, names[0])
    with pytest.raises(ValueError, match="not the name of a saved comparison"):
        compare_history.load(tmp_path, "../" + names[2])
    # a browser's list: what is still on disk, labelled; unknown or malformed names are left out
    assert compare_history.choices(tmp_path, [names[2], names[0], "../x", 7]) == [
        ("2026-12-03 12:00 · tiny-image · a red circle", names[2])]


def test_a_new_name_is_a_valid_one():
    name = compare_history.new_name("sd35-large", "A fox, in 'snow'!")
    assert "-sd35-large-a-fox-in-snow-" in name and compare_history._NAME.match(name)


def test_the_remembered_list_is_newest_first_without_repeats_and_bounded():
    mine = compare_history.remember(["b", "a"], "a")
    assert mine == ["a", "b"]
    assert len(compare_history.remember([str(i) for i in range(40)], "new")) == compare_history.REMEMBERED
    assert compare_history.remember(None, None) == []


def test_a_reload_right_after_a_run_lists_and_opens_the_comparison_still_being_written(tmp_path, monkeypatch):
    """A video's clips take a second or more to write on a busy machine: the page may list its comparisons first."""
    import threading

    started, release = threading.Event(), threading.Event()
    real = compare_history.write_compare_folder

    def slow(folder, report, outputs):
        started.set()
        release.wait(10)
        return real(folder, report, outputs)

    monkeypatch.setattr(compare_history, "write_compare_folder", slow)
    name = "20261205-120000-tiny-image-a-red-circle-0000000a"
    compare_history.save_in_background(tmp_path, name, REPORT, {"base": np.full((64, 64, 3), 0.5)})
    assert started.wait(10)
    threading.Timer(0.3, release.set).start()  # the listing below starts before the folder is written
    assert [n for _, n in compare_history.choices(tmp_path, [name])] == [name]
    assert compare_history.load(tmp_path, name)[1]["base"].shape == (64, 64, 3)


def test_a_comparison_that_cannot_be_written_is_logged_in_one_line(tmp_path, caplog):
    """A full disk or a removed folder: the page keeps its results; the log says which comparison was not kept
    (it was an unhandled exception in the writer thread)."""
    (tmp_path / "a-file").write_text("x")
    name = "20261205-120000-tiny-image-a-red-circle-0123abcd"
    with caplog.at_level(logging.WARNING, logger="studio"):
        compare_history.save_in_background(tmp_path / "a-file", name, {}, {}).join(timeout=30)
    assert f"comparison {name} was not kept in" in caplog.text and "Traceback" not in caplog.text
