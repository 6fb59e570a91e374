"""The engine: load a preset once, run variants on the same prompt and noise, measure each one fairly.

Example:
    engine = Engine(load_preset("tiny-image"))
    results = engine.compare(RunRequest("a red circle", seed=0), ["baseline", "int8", "teacache"])
"""

from __future__ import annotations

import statistics
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from studio.engine.budget import MemoryBudget, Turn
from studio.engine.caches import cache_applied, denoiser_of, idle_cache_note, idle_cache_reason
from studio.engine.cpu_precision import vae_dtype_name
from studio.engine.loading import (
    derive_pipeline,
    load_base_pipeline,
    load_key,
    load_weights_pipeline,
    set_lora_active,
    with_components,
)
from studio.engine.measure import PeakMemory, StepClock, computed_step_probe, module_weight_bytes, synchronize
from studio.engine.region_cache import region_activity
from studio.engine.request import RunRequest
from studio.locks import MODEL_BUILD_LOCK
from studio.presets import Preset
from studio.schedule import check_takes_sigmas, schedule_sigmas
from studio.variant import Variant

SCHEDULERS = {  # recipe name -> diffusers scheduler class name (flow-matching models)
    "euler": "FlowMatchEulerDiscreteScheduler",
    "heun": "FlowMatchHeunDiscreteScheduler",
}


class Cancelled(Exception):
    """Raised from a progress callback to stop a comparison; unlike a variant's error it ends the whole run."""


@dataclass
class VariantResult:
    slug: str
    name: str
    kind: str
    recipe: dict
    steps: int
    timings: dict = field(default_factory=dict)
    speedup: float | None = None
    memory: dict = field(default_factory=dict)
    cache: dict | None = None
    metrics: dict = field(default_factory=dict)
    media: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    output: np.ndarray | None = field(default=None, repr=False)  # (H, W, 3) or (F, H, W, 3) floats in [0, 1]

    def to_report(self) -> dict:
        d = asdict(self)
        d.pop("output")
        return d


def noise_shape(pipe, width: int, height: int, frames: int) -> tuple[int, ...]:
    """Per-sample initial-noise shape of an embedded pipeline: its latents (or pixels) for that size."""
    return tuple(pipe.latent_shape(height, width, frames))


def cpu_threads() -> int:
    """Torch CPU threads for generation: STUDIO_CPU_THREADS, else half the cores.

    Why not all cores: with every core busy elsewhere (a second request, a training job, the metrics), torch's
    spinning worker threads oversubscribe the CPU. Measured on a loaded 2-core machine, the embedded image
    baseline took 33.6 s with 2 threads and 1.6 s with 1.
    """
    import os

    from studio.config import cpu_threads_setting

    chosen = cpu_threads_setting(os.environ)  # ConfigError (a ValueError) naming the allowed range
    return chosen if chosen is not None else max(1, (os.cpu_count() or 2) // 2)


def hardware_name(device: torch.device) -> str:
    """'cpu', or the GPU's name such as 'NVIDIA H100 80GB HBM3' (the price table is keyed by it)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def call_pipeline(pipe, *args, **kwargs):
    """Every studio run of a pipeline: in inference mode, which nothing in a run needs to leave (no autograd) and
    which dispatches the many small ops of a few-step or cached run faster than no_grad (same output, bit for bit)."""
    with torch.inference_mode():
        return pipe(*args, **kwargs)


class Engine:
    """Owns the loaded pipelines of one preset; one run at a time (a lock guards the device)."""

    def __init__(self, preset: Preset, device: torch.device | None = None, memory_budget_bytes: int | None = None):
        self.preset = preset
        self.device = device or default_device()
        self.threads = cpu_threads() if self.device.type == "cpu" else None
        self.lock = threading.Lock()
        self._base = None
        self._weights: dict = {}
        self._pipes: dict = {}
        self._released: set = set()
        self.load_seconds: dict = {}
        self.budget = MemoryBudget(memory_budget_bytes) if memory_budget_bytes else None

    # ---- loading -------------------------------------------------------------------------------------------
    def base_pipeline(self):
        with MODEL_BUILD_LOCK:
            if self._base is None:
                t0 = time.perf_counter()
                self._base = load_base_pipeline(self.preset, self.device)
                self.load_seconds[("base",)] = time.perf_counter() - t0
        return self._base

    def pipeline_for(self, variant: Variant):
        key = load_key(variant)
        with MODEL_BUILD_LOCK:
            return self._pipeline_for(variant, key)

    def _pipeline_for(self, variant: Variant, key: tuple):
        if key not in self._pipes:
            t0 = time.perf_counter()
            base = self.base_pipeline()
            if variant.weights not in self._weights:
                self._weights[variant.weights] = load_weights_pipeline(base, variant.weights, self.device)
            self._pipes[key] = derive_pipeline(self._weights[variant.weights], variant, self.device)
            self.load_seconds[key] = time.perf_counter() - t0
        return self._pipes[key]

    def decoder_dtype(self) -> str | None:
        """The loaded base pipeline's VAE dtype ("bfloat16" where the CPU decodes natively); None before loading or
        without a VAE."""
        return vae_dtype_name(self._base)

    def resident_bytes(self) -> int:
        """Bytes of every distinct module the loaded pipelines hold on the device (shared ones counted once)."""
        seen, total = set(), 0
        for pipe in [self._base, *self._weights.values(), *self._pipes.values()]:
            if pipe is None:
                continue
            for module in pipe.components.values():
                if isinstance(module, torch.nn.Module) and id(module) not in seen:
                    seen.add(id(module))
                    params = list(module.parameters())
                    if not params or params[0].device.type == self.device.type:
                        total += module_weight_bytes(module)
        return total

    # ---- memory budget: variants take turns --------------------------------------------------------------------
    def derived_keys(self) -> list[tuple]:
        return list(self._pipes)

    def _base_modules(self) -> set[int]:
        return {id(m) for m in self.base_pipeline().components.values() if isinstance(m, torch.nn.Module)}

    def step_aside(self, key: tuple, keep: set[int]) -> str | None:
        """Make variant `key`'s own denoiser leave the device; returns how, or None if it cannot."""
        denoiser = denoiser_of(self._pipes[key])
        if id(denoiser) in keep | self._base_modules():  # the shared base always stays
            return None
        weights, quant, compiled = key
        parts = ([] if weights.source == "base" else [weights.source]) + ([quant.method] if quant else [])
        name = "-".join(parts + (["compile"] if compiled else [])) or "base"  # what the copy is, not who asked
        if self.device.type != "cpu":
            params = list(denoiser.parameters())
            if not params or params[0].device.type == "cpu":
                return None
            denoiser.to("cpu")
            return f"{name} (moved to the CPU)"
        del self._pipes[key]  # a CPU has nowhere cheaper: release it, rebuild on its next turn
        if weights in self._weights and denoiser_of(self._weights[weights]) is denoiser:
            del self._weights[weights]
        self._released.add(key)
        return f"{name} (released; rebuilt on its next turn)"

    def _take_turn(self, variant: Variant) -> Turn:
        """Before a run under a memory budget: make room for this variant's denoiser, then bring it in."""
        key = load_key(variant)
        built = self._pipes.get(key)
        base_denoiser = denoiser_of(self.base_pipeline())
        if built is None:  # not built yet: estimate its denoiser by the base's (a quantized copy is smaller)
            needed = 0 if (variant.weights.source in ("base", "lora") and not variant.quant
                           and not variant.compile) else module_weight_bytes(base_denoiser)
            keep: set[int] = set()
        else:
            denoiser = denoiser_of(built)
            params = list(denoiser.parameters())
            on_device = not params or params[0].device.type == self.device.type
            needed = 0 if on_device else module_weight_bytes(denoiser)
            keep = {id(m) for m in built.components.values()}
        turn = self.budget.make_room(self, key, needed, keep)
        t0 = time.perf_counter()
        pipe = self.pipeline_for(variant)
        if key in self._released and built is None:
            self._released.discard(key)
            turn.waited, turn.moved_in_s = True, time.perf_counter() - t0
        self.budget.bring_in(self, denoiser_of(pipe), turn)
        return self.budget.settle(self, turn)

    # ---- running -------------------------------------------------------------------------------------------
    def initial_noise(self, request: RunRequest) -> torch.Tensor | None:
        """The one initial noise tensor every variant starts from (embedded pipelines take it as `latents`)."""
        pipe = self.base_pipeline()
        if not hasattr(pipe, "prepare_latents") or self.preset.pipeline != "tiny":
            return None
        gen = torch.Generator("cpu").manual_seed(request.seed)
        shape = (1, *noise_shape(pipe, *self._size(request)))
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    def _size(self, request: RunRequest) -> tuple[int, int, int]:
        return (request.width or self.preset.width, request.height or self.preset.height,
                request.frames or self.preset.frames)

    def guidance_for(self, variant: Variant) -> float | None:
        """The guidance scale a variant runs with: its own, else the preset's (None: the pipeline's default)."""
        return self.preset.guidance_for(variant)

    def sampling_kwargs(self, variant: Variant, steps: int) -> dict:
        """How a variant samples: its steps, guidance scale and schedule (shared by runs and held-out evaluation)."""
        kwargs = {"num_inference_steps": steps}
        guidance = self.guidance_for(variant)
        if guidance is not None:
            kwargs["guidance_scale"] = guidance
        if variant.schedule:
            kwargs["sigmas"] = schedule_sigmas(variant.schedule, steps)
        return kwargs

    def call_kwargs(self, variant: Variant, request: RunRequest, steps: int, noise) -> dict:
        """The exact pipeline arguments a variant runs with (so a direct call can reproduce a run)."""
        width, height, frames = self._size(request)
        kwargs = {"prompt": request.prompt, **self.sampling_kwargs(variant, steps), "height": height, "width": width,
                  "output_type": "np"}
        if self.preset.media == "video":
            kwargs["num_frames"] = frames
        if request.negative_prompt:
            kwargs["negative_prompt"] = request.negative_prompt
        if noise is not None:
            kwargs["latents"] = noise.to(self.device)
        else:
            kwargs["generator"] = torch.Generator("cpu").manual_seed(request.seed)
        return kwargs

    def _pipe_with_scheduler(self, pipe, variant: Variant):
        if not variant.scheduler:
            return pipe
        if variant.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler '{variant.scheduler}'; known: {', '.join(SCHEDULERS)}")
        import diffusers

        cls = getattr(diffusers, SCHEDULERS[variant.scheduler])
        return with_components(pipe, scheduler=cls.from_config(pipe.scheduler.config))

    def _timed_call(self, pipe, kwargs: dict, progress: Callable | None, steps: int) -> dict:
        denoiser = denoiser_of(pipe)
        clock = StepClock(self.device)
        probe = computed_step_probe(denoiser)
        probe.take()  # a warm-up's calls are not this run's
        computed: list[bool] = []
        hook = denoiser.register_forward_pre_hook(clock.on_denoiser_call)

        def on_step_end(p, i, t, tensors):
            clock.on_step_end()
            computed.append(probe.take() > 0)
            if progress:
                progress(i + 1, steps)
            return {}

        try:
            with PeakMemory(self.device) as peak:
                synchronize(self.device)
                t0 = time.perf_counter()
                out = call_pipeline(pipe, **kwargs, callback_on_step_end=on_step_end)
                synchronize(self.device)
                t1 = time.perf_counter()
        finally:
            hook.remove()
        media = out.frames if getattr(out, "frames", None) is not None else out.images
        per_step = clock.per_step_s()
        denoise = sum(per_step)
        return {"end_to_end_s": t1 - t0, "denoise_s": denoise, "decode_s": t1 - clock.step_ends[-1],
                "per_step": per_step, "peak_bytes": peak.bytes, "computed": computed,
                "region": region_activity(denoiser), "output": np.asarray(media[0], dtype=np.float32)}

    def run_variant(self, variant: Variant, request: RunRequest, noise=None,
                    progress: Callable | None = None) -> VariantResult:
        """Run one variant (warm-up, then `repeats` timed runs, median). Errors land in `result.error`."""
        result, runs = self._new_result(variant, request), []
        try:
            setup = self._timed_runs(variant, request, noise, progress, request.repeats, request.warmup, runs)
            self._summarise(result, variant, runs, setup)
        except Cancelled:
            raise
        except Exception as e:  # one failing variant never takes down the others
            _record_failure(result, e)
        return result

    def _steps_for(self, variant: Variant, request: RunRequest) -> int:
        return variant.steps or request.steps or self.preset.steps

    def _new_result(self, variant: Variant, request: RunRequest) -> VariantResult:
        return VariantResult(slug=variant.slug, name=variant.name, kind=variant.kind(request.steps
                             or self.preset.steps), recipe=variant.to_dict(), steps=self._steps_for(variant, request))

    def _timed_runs(self, variant: Variant, request: RunRequest, noise, progress: Callable | None, count: int,
                    warmup: bool, runs: list[dict]) -> dict:
        """Append `count` timed runs of `variant` to `runs` (after a warm-up if asked); returns what the runs
        share: compile time, the memory-budget turn, the denoiser's weight bytes."""
        steps = self._steps_for(variant, request)
        with self.lock:
            if self.threads:  # per calling thread: OpenMP settings do not carry over to new threads
                torch.set_num_threads(self.threads)
            turn = self._take_turn(variant) if self.budget else None
            pipe = self._pipe_with_scheduler(self.pipeline_for(variant), variant)
            set_lora_active(pipe, variant.weights)
            check_takes_sigmas(pipe, variant.schedule)
            kwargs = self.call_kwargs(variant, request, steps, noise)
            with cache_applied(pipe, variant.cache, steps, self.preset.teacache_coefficients):
                compile_s = 0.0
                if warmup:  # lazy initialisation (and compilation) outside the timed runs
                    warm = dict(kwargs, **self.sampling_kwargs(variant, steps if variant.compile else min(steps, 2)))
                    t0 = time.perf_counter()
                    call_pipeline(pipe, **warm)  # the timed runs' grad mode: a compiled graph is not rebuilt
                    compile_s = time.perf_counter() - t0 if variant.compile else 0.0
                runs.extend(self._timed_call(pipe, kwargs, progress, steps) for _ in range(count))
        return {"compile_s": compile_s, "turn": turn, "weights_bytes": module_weight_bytes(denoiser_of(pipe))}

    def _summarise(self, result: VariantResult, variant: Variant, runs: list[dict], setup: dict) -> None:
        """Fill `result` from its timed runs: median timings, peak memory, cache timeline, the median run's output."""
        median = sorted(runs, key=lambda r: r["end_to_end_s"])[len(runs) // 2]
        result.timings = {
            "end_to_end_s": statistics.median(r["end_to_end_s"] for r in runs),
            "denoise_s": statistics.median(r["denoise_s"] for r in runs),
            "per_step_ms": 1000 * statistics.median(r["denoise_s"] for r in runs) / result.steps,
            "decode_s": statistics.median(r["decode_s"] for r in runs),
            "load_s": self.load_seconds.get(load_key(variant), 0.0),
            "compile_s": setup["compile_s"],
            "repeats": len(runs),
        }
        result.memory = {"peak_bytes": max(r["peak_bytes"] for r in runs), "weights_bytes": setup["weights_bytes"],
                         "device": self.device.type}
        if setup["turn"] is not None:
            result.memory["turn"] = dict(setup["turn"].to_dict(), sentence=setup["turn"].sentence())
        if variant.cache is not None:
            timeline = median["computed"]
            result.cache = {"computed_steps": sum(timeline), "reused_steps": len(timeline) - sum(timeline),
                            "timeline": ["computed" if c else "reused" for c in timeline]}
            reason = idle_cache_reason(variant.cache, result.steps, result.cache["reused_steps"])
            if reason:  # a cache that saved nothing says why (few steps: nothing to skip)
                result.cache.update(idle_reason=reason, note=idle_cache_note(result.steps, reason))
            if median["region"]:  # region cache: per-step token activity (grid, fractions, masks)
                result.cache["region"] = median["region"]
        result.output = median["output"]

    def compare(self, request: RunRequest, variants: list[Variant],
                on_result: Callable[[VariantResult], None] | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> list[VariantResult]:
        """Run the baseline first (added if missing), then each variant; speedups are against that baseline.

        With `request.interleave` and more than one repeat (and no memory budget, under which variants would swap
        in and out every round) the repeats run in rounds, every variant once a round, so a drift in the machine's
        load hits all variants alike; results then all arrive after the last round."""
        if not any(v.kind(self.preset.steps) == "baseline" for v in variants):
            variants = [self.preset.variants["baseline"], *variants]
        noise = self.initial_noise(request)

        def step_progress(v: Variant):
            return (lambda i, n, s=v.slug: progress(s, i, n)) if progress else None

        if request.interleave and request.repeats > 1 and not self.budget:
            results = self._interleaved(request, variants, noise, step_progress)
            _set_speedups(results)
            for r in results:
                if on_result:
                    on_result(r)
            return results
        results = []
        for v in variants:  # one variant at a time: each result is reported as soon as it is measured
            results.append(self.run_variant(v, request, noise, step_progress(v)))
            _set_speedups(results)
            if on_result:
                on_result(results[-1])
        return results

    def _interleaved(self, request: RunRequest, variants: list[Variant], noise,
                     step_progress: Callable) -> list[VariantResult]:
        results = [self._new_result(v, request) for v in variants]
        runs: list[list[dict]] = [[] for _ in variants]
        setups: list[dict | None] = [None] * len(variants)
        for round_index in range(request.repeats):
            for i, v in enumerate(variants):
                if results[i].error:
                    continue
                try:
                    setup = self._timed_runs(v, request, noise, step_progress(v), 1,
                                             request.warmup and round_index == 0, runs[i])
                    setups[i] = setups[i] or setup  # the first round's: it holds the warm-up (compile) time
                except Cancelled:
                    raise
                except Exception as e:  # one failing variant never takes down the others
                    _record_failure(results[i], e)
        for result, v, variant_runs, setup in zip(results, variants, runs, setups, strict=True):
            if not result.error:
                self._summarise(result, v, variant_runs, setup)
        return results


def _record_failure(result: VariantResult, error: Exception) -> None:
    result.error = f"{type(error).__name__}: {error}"
    result.notes.append(traceback.format_exc(limit=3))


def _set_speedups(results: list[VariantResult]) -> None:
    """Each result's end-to-end speedup against the first baseline among `results`."""
    baseline = next((r for r in results if r.kind == "baseline"), None)
    if baseline is None or baseline.error:
        return
    for r in results:
        if not r.error:
            r.speedup = baseline.timings["end_to_end_s"] / r.timings["end_to_end_s"]


def save_media(result: VariantResult, out_dir: Path, fps: int = 8) -> list[str]:
    """Write a result's output as PNG (image), or as MP4 plus a PNG strip of its frames (video); returns paths."""
    if result.output is None:
        return []
    region = result.cache.get("region") if result.cache else None
    return save_output(result.name, result.output, out_dir, region, fps)


def save_output(name: str, output: np.ndarray, out_dir: Path, region: dict | None = None, fps: int = 8) -> list[str]:
    """`output` (HxWx3 or FxHxWx3 floats in [0, 1]) as `name`.png, or `name`.mp4 plus a PNG strip of its frames;
    with `region` (a region cache's record) also where it recomputed. Returns the paths."""
    import imageio.v3 as iio
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    overlay = []
    if region:  # where the region cache recomputed, per step and frame
        from studio.metrics.region_overlay import save_region_overlay

        overlay = [save_region_overlay(output, region, out_dir / f"{name}-regions.png")]
    pixels = (np.clip(output, 0, 1) * 255).round().astype(np.uint8)
    if pixels.ndim == 3:
        path = out_dir / f"{name}.png"
        Image.fromarray(pixels).save(path)
        return [str(path), *overlay]
    path = out_dir / f"{name}.mp4"
    big = np.stack([np.asarray(Image.fromarray(f).resize((256, 256), Image.NEAREST)) for f in pixels])
    iio.imwrite(path, big, fps=fps, codec="libx264", macro_block_size=1)
    frames_path = out_dir / f"{name}-frames.png"
    Image.fromarray(np.concatenate(list(pixels), axis=1)).save(frames_path)
    return [str(path), str(frames_path), *overlay]
