"""The overhead command's checks: reproducible baseline, shared weights, and a peak-memory reading that sees."""

from __future__ import annotations

import numpy as np
import torch

from studio.engine.measure import PeakMemory
from studio.engine.overhead import measure
from studio.presets import load_preset


def test_baseline_is_bit_identical_and_variants_share_weights():
    result = measure(load_preset("tiny-image"), "a large red circle at the top left", seed=3, repeats=2)
    assert result["bit_identical"] is True
    # int8 copies only the transformer (4x smaller); teacache and naive4 reuse the base modules
    assert 1.0 < result["resident_ratio"] <= 1.6
    assert result["direct_s"] > 0 and result["studio_s"] > 0


def test_peak_memory_sees_a_short_lived_allocation():
    with PeakMemory(torch.device("cpu")) as quiet:
        pass
    with PeakMemory(torch.device("cpu")) as busy:
        block = np.ones(200_000_000 // 8)  # 200 MB, touched, then freed inside the block
        del block
    assert busy.bytes - quiet.bytes > 150_000_000
