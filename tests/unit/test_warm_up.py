"""The app's start-up warm-up: on a Space (no build step) it prepares the LPIPS weights, elsewhere it never fetches."""

import studio.engine.pool as pool
import studio.metrics.weights as weights
from studio.config import Settings


def test_warm_up_prepares_lpips_on_a_space_only(monkeypatch):
    calls = []
    monkeypatch.setattr(pool, "prewarm", lambda name, prepare_lpips: calls.append((name, prepare_lpips)))
    pool.warm_up(Settings(on_spaces=True))
    pool.warm_up(Settings(on_spaces=False))
    pool.warm_up(Settings(on_spaces=True, prewarm=False))  # STUDIO_PREWARM=0: nothing at all
    assert calls == [("tiny-image", True), ("tiny-image", False)]


def test_prewarm_fetches_missing_weights_before_loading(monkeypatch):
    order = []
    monkeypatch.setattr(weights, "find_alexnet_weights", lambda: None)
    monkeypatch.setattr(weights, "prepare_lpips_weights", lambda: order.append("prepare"))

    def engine_for(name):
        order.append(f"engine {name}")
        raise RuntimeError("stop here")  # the warm-up reports it and ends; nothing is loaded

    monkeypatch.setattr(pool, "engine_for", engine_for)
    pool.prewarm("tiny-image", prepare_lpips=True).join(timeout=30)
    pool.prewarm("tiny-image", prepare_lpips=False).join(timeout=30)
    assert order == ["prepare", "engine tiny-image", "engine tiny-image"]


def test_prewarm_builds_what_the_page_selects_at_first(monkeypatch):
    from studio.presets import load_preset

    built = []

    class Engine:
        preset = load_preset("tiny-image")

        def base_pipeline(self):
            built.append("base")

        def pipeline_for(self, variant):
            built.append(variant.name)

    monkeypatch.setattr(pool, "engine_for", lambda name: Engine())
    monkeypatch.setattr("studio.metrics.lpips_offline.get_lpips_model", lambda: None)
    pool.prewarm("tiny-image").join(timeout=30)
    assert built == ["base", *Engine.preset.default_variants] and "distilled" in built
