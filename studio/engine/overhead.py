"""`python -m studio overhead`: what the studio adds on top of the pipeline, and whether runs are reproducible.

Three checks, measured side by side in one process:
1. Overhead: wall time of `Engine.run_variant(baseline)` (hooks, step clock, cache probe, memory sampler included)
   against calling the same pipeline directly with the same inputs (both in inference mode), interleaved, medians
   of N.
2. Determinism: the baseline run twice with one seed gives bit-identical output.
3. Memory sharing: bytes of distinct weights held once baseline, int8, TeaCache and naive-4 are all loaded,
   against baseline alone (shared modules counted once; `Engine.resident_bytes`).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from studio.engine.request import RunRequest
from studio.engine.runner import Engine, call_pipeline
from studio.presets import Preset


def measure(preset: Preset, prompt: str, seed: int = 0, repeats: int = 5) -> dict:
    engine = Engine(preset)
    baseline = preset.variants["baseline"]
    request = RunRequest(prompt=prompt, seed=seed, warmup=False)
    noise = engine.initial_noise(request)
    pipe = engine.pipeline_for(baseline)
    pipe.set_progress_bar_config(disable=True)
    kwargs = engine.call_kwargs(baseline, request, preset.steps, noise)
    call_pipeline(pipe, **dict(kwargs, num_inference_steps=2))  # warm both paths alike
    engine.run_variant(baseline, request, noise)
    direct, studio, outputs = [], [], []
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
        t0 = time.perf_counter()
        call_pipeline(pipe, **kwargs)  # in inference mode as the engine: the comparison is about the studio
        direct.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = engine.run_variant(baseline, request, noise)
        studio.append(time.perf_counter() - t0)
        if result.error:
            raise RuntimeError(result.error)
        outputs.append(result.output)
    alone = engine.resident_bytes()
    names = [n for n in ("int8", "teacache", "naive4") if n in preset.variants]
    for name in names:
        engine.pipeline_for(preset.variants[name])
    together = engine.resident_bytes()
    d, s = statistics.median(direct), statistics.median(studio)
    return {"direct_s": d, "studio_s": s, "overhead": s / d - 1, "repeats": repeats,
            "bit_identical": all(np.array_equal(outputs[0], o) for o in outputs[1:]),
            "resident_baseline_bytes": alone, "resident_all_bytes": together, "resident_ratio": together / alone,
            "resident_variants": ["baseline", *names]}


def format_report(r: dict) -> str:
    return "\n".join([
        f"direct pipeline call   {r['direct_s']:.3f} s (median of {r['repeats']})",
        f"through the studio     {r['studio_s']:.3f} s  -> overhead {r['overhead']:+.1%}",
        f"baseline bit-identical over {r['repeats']} runs: {r['bit_identical']}",
        f"resident weights: baseline alone {r['resident_baseline_bytes'] / 1e6:.1f} MB; "
        f"{' + '.join(r['resident_variants'])} {r['resident_all_bytes'] / 1e6:.1f} MB "
        f"({r['resident_ratio']:.2f}x)",
    ])
