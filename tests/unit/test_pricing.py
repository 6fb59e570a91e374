"""One price table for the compare page and the bench: device names to prices, given prices, bad prices."""

import math

import pytest

from studio.pricing import DEFAULT_GPU, PRICES, check_price, cost_per_1000, price_for


def test_devices_map_to_their_row():
    assert price_for("cpu") == (PRICES["CPU"], "default table (CPU)")
    assert price_for("NVIDIA H100 80GB HBM3")[0] == PRICES["Nvidia H100"] == PRICES[DEFAULT_GPU]
    assert price_for("NVIDIA A100-SXM4-40GB")[0] == PRICES["Nvidia A100"]
    assert price_for("NVIDIA L40S")[0] == PRICES["Nvidia L40S"]  # not the L4 row, whose name it contains
    assert price_for("NVIDIA L4")[0] == PRICES["Nvidia L4"]
    assert price_for("NVIDIA A10G")[0] == PRICES["Nvidia A10G"]


def test_unknown_device_has_no_price_and_says_how_to_give_one():
    price, source = price_for("NVIDIA GeForce RTX 4090")
    assert price is None and "'NVIDIA GeForce RTX 4090'" in source and "--gpu-price" in source


def test_given_price_wins_and_bad_prices_are_refused():
    assert price_for("cpu", 2.5) == (2.5, "given") and price_for("Mystery", 0) == (0.0, "given")
    for bad in (-1, 1000.5, math.nan, "3", True, None):
        with pytest.raises(ValueError, match="from 0 to 1000 USD per hour"):
            check_price(bad)


def test_cost_per_1000():
    assert cost_per_1000(0.5, 4.5) == pytest.approx(0.625)  # 1000 × 0.5 s = 500 s = 0.139 h at 4.5 $/h


def test_the_compare_page_prices_the_hardware_it_runs_on(monkeypatch):
    # its cards' times are measured here: pricing a CPU's seconds at an H100's rate once misled by 150x
    import studio.engine.runner as runner
    from studio.ui import app

    monkeypatch.setattr(runner, "default_device", lambda: runner.torch.device("cpu"))
    assert app._price_row_here() == "CPU"
    monkeypatch.setattr(runner, "hardware_name", lambda device: "NVIDIA L40S")
    assert app._price_row_here() == "Nvidia L40S"
    monkeypatch.setattr(runner, "hardware_name", lambda device: "NVIDIA GeForce RTX 4090")  # not in the table
    assert app._price_row_here() == DEFAULT_GPU
