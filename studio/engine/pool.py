"""One Engine per preset for the life of the process, so a preset's pipelines load once and are shared."""

from __future__ import annotations

import threading

from studio.presets import Preset, load_preset

_engines: dict = {}
_lock = threading.Lock()


def runnable_here(preset: Preset) -> tuple[bool, str]:
    """Whether this machine can run the preset, and if not, why in words."""
    if preset.pipeline == "tiny":
        return True, ""
    import torch

    if not torch.cuda.is_available():
        return False, (f"'{preset.title}' needs {preset.requirements}; this machine has no CUDA GPU. "
                       "Pick an embedded preset, or run the studio on a GPU Space or in Docker on a GPU machine.")
    return True, ""


def engine_for(name: str):
    """The shared Engine of preset `name` (created on first use; loading happens lazily inside it)."""
    from studio.config import Settings
    from studio.engine.runner import Engine

    with _lock:
        if name not in _engines:
            budget_gb = Settings.from_env().memory_budget_gb  # STUDIO_MEMORY_BUDGET_GB: variants take turns
            _engines[name] = Engine(load_preset(name), memory_budget_bytes=int(budget_gb * 1e9) if budget_gb else None)
        return _engines[name]


def prewarm(name: str, prepare_lpips: bool = False) -> threading.Thread:
    """Load a preset's base pipeline and the LPIPS model in the background, so the first request is fast.

    `prepare_lpips` first fetches and converts the LPIPS weights (a Space has no build step to do it).
    """

    def work() -> None:
        try:
            if prepare_lpips:
                from studio.metrics.weights import find_alexnet_weights, prepare_lpips_weights

                if find_alexnet_weights() is None:
                    prepare_lpips_weights()
            engine = engine_for(name)
            engine.base_pipeline()  # both take studio.locks.MODEL_BUILD_LOCK: no overlap with a request's loads
            from studio.metrics.lpips_offline import get_lpips_model

            get_lpips_model()
            for variant in engine.preset.default_variants:  # quantized copies etc. a first visitor will run
                engine.pipeline_for(engine.preset.variants[variant])
            import studio.engine.stream  # noqa: F401  (imports the request path needs, off the request)
        except Exception as e:  # the request path reports problems properly; this is only a head start
            print(f"prewarm of {name} skipped: {type(e).__name__}: {e}")

    thread = threading.Thread(target=work, name=f"prewarm-{name}", daemon=True)
    thread.start()
    return thread


EMBEDDED_PRESETS = ("tiny-image", "tiny-video")


def warm_up(settings) -> None:
    """Prewarm the start preset (an embedded one) unless STUDIO_PREWARM=0; `settings` is a studio.config.Settings."""
    if not settings.prewarm:
        return
    name = settings.default_preset if settings.default_preset in EMBEDDED_PRESETS else "tiny-image"
    prewarm(name, prepare_lpips=settings.on_spaces)
