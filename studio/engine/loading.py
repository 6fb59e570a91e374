"""Load a preset's base pipeline once and derive each variant's pipeline from it, sharing what can be shared.

Load key = (weights, quantization, compile). Variants that differ only in cache, steps, scheduler or guidance
share one pipeline. A quantized variant copies only the denoiser; text encoders, VAE and scheduler are shared.
A LoRA variant loads its adapter into the shared denoiser and switches it on only for its own runs.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from pathlib import Path

import torch

from studio.engine.caches import denoiser_of
from studio.engine.cpu_precision import apply_cpu_decoder_precision
from studio.engine.measure import computed_step_probe
from studio.engine.quantization import hardware_support, quantize_denoiser_
from studio.hub import LORA, PIPELINE, Needs, fetch
from studio.presets import Preset, _looks_like_hub_id, local_folder
from studio.variant import Variant, WeightsSpec

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
LORA_ADAPTER = "studio_distilled"  # the preset's `lora` weights; a named second one gets its own adapter


def resolve_ref(ref: str) -> str | Path:
    """A Hub id stays a string; an absolute folder (a team's own checkpoint) or a repo-relative path is a Path."""
    if _looks_like_hub_id(ref):
        return ref
    path = local_folder(ref)
    if not path.is_dir():
        raise FileNotFoundError(f"local model folder '{ref}' does not exist (train it or check the preset)")
    return path


def model_folder(ref: str, revision: str | None, needs: Needs) -> Path:
    """A local folder for `ref`: a local folder as it is; a Hub id fetched (only the files `needs` names) into the
    Hugging Face cache, after the checks in studio.hub (gated, missing, offline, disk) that fail with HubError."""
    resolved = resolve_ref(ref)
    if isinstance(resolved, Path):
        return resolved
    return fetch(resolved, revision, needs)


def pipeline_class(preset: Preset):
    if preset.pipeline == "tiny":
        from studio.tiny.pipeline import TinyDiffusionPipeline

        return TinyDiffusionPipeline
    import diffusers

    cls = getattr(diffusers, preset.pipeline, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, diffusers.DiffusionPipeline):
        raise ValueError(f"preset '{preset.name}': '{preset.pipeline}' is not a diffusers pipeline class")
    return cls


def load_base_pipeline(preset: Preset, device: torch.device):
    """The preset's base pipeline on `device`. Never trusts remote code unless the preset says so."""
    cls = pipeline_class(preset)
    dtype = torch.float32 if device.type == "cpu" else DTYPES[preset.dtype]
    kwargs = {"dtype": dtype}  # diffusers 0.42 deprecates torch_dtype
    if preset.trust_remote_code:
        kwargs["trust_remote_code"] = True
    pipe = cls.from_pretrained(model_folder(preset.source, preset.revision, PIPELINE), **kwargs)
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(device)
    apply_cpu_decoder_precision(pipe, preset.cpu_vae_dtype, device)
    return pipe


def with_components(pipe, **swaps):
    """A new pipeline object of the same class whose components are `pipe`'s, except `swaps`.

    Constructor settings the pipeline registered in its config (the embedded pipeline's `video`, SDXL's
    `force_zeros_for_empty_prompt`, ...) carry over: without them the copy would be another pipeline.
    """
    accepted = inspect.signature(type(pipe).__init__).parameters
    settings = {k: v for k, v in pipe.config.items() if k in accepted and k not in pipe.components}
    new = type(pipe)(**{**settings, **pipe.components, **swaps})
    new.set_progress_bar_config(disable=True)
    return new


def _denoiser_name(pipe) -> str:
    return "transformer" if getattr(pipe, "transformer", None) is not None else "unet"


def load_weights_pipeline(base, weights: WeightsSpec, device: torch.device):
    """The pipeline for a weights source, sharing everything but the denoiser with `base`."""
    if weights.source == "base":
        return base
    name = _denoiser_name(base)
    denoiser_cls = type(denoiser_of(base))
    if weights.source == "lora":
        if not hasattr(base, "load_lora_weights"):
            raise ValueError(f"{type(base).__name__} cannot load LoRA weights")
        with warnings.catch_warnings():  # peft warns of a second adapter on one model: here that is the design
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            base.load_lora_weights(model_folder(weights.ref, weights.revision, LORA),
                                   adapter_name=lora_adapter(weights))
        return base  # which adapter is on, at which scale, is set before each run (set_lora_active)
    ref = model_folder(weights.ref, weights.revision, Needs("denoiser", name))
    subfolder = name if (ref / name).is_dir() else None
    denoiser = denoiser_cls.from_pretrained(ref, subfolder=subfolder, dtype=denoiser_of(base).dtype).to(device)
    return with_components(base, **{name: denoiser})


def lora_adapter(weights: WeightsSpec) -> str:
    """The adapter name of a distillation LoRA on the shared denoiser, one per LoRA weights the preset names."""
    return LORA_ADAPTER if weights.tag == "lora" else f"{LORA_ADAPTER}_{weights.tag}"


def set_lora_active(pipe, weights: WeightsSpec) -> None:
    """Switch on the variant's distillation LoRA (at its scale) and every other one off on the shared denoiser."""
    loaded = (getattr(pipe, "get_list_adapters", lambda: {})() or {}).get(_denoiser_name(pipe), [])
    if not any(a.startswith(LORA_ADAPTER) for a in loaded):
        return
    if weights.source == "lora":
        pipe.enable_lora()
        pipe.set_adapters([lora_adapter(weights)], adapter_weights=[weights.lora_scale])
    else:
        pipe.disable_lora()


def require_hardware(variant: Variant, device: torch.device) -> None:
    """ValueError naming the requirement when the variant's quantization cannot run on `device`."""
    if variant.quant:
        ok, reason = hardware_support(variant.quant.method, device)
        if not ok:
            raise ValueError(reason)


def derive_pipeline(weights_pipe, variant: Variant, device: torch.device):
    """Apply the variant's load-time changes (quantization, compile) to a copy of the denoiser."""
    pipe = weights_pipe
    name = _denoiser_name(pipe)
    if variant.quant:
        require_hardware(variant, device)
        denoiser = quantize_denoiser_(copy.deepcopy(denoiser_of(pipe)), variant.quant.method, device)
        pipe = with_components(pipe, **{name: denoiser})
    if variant.compile:
        computed_step_probe(denoiser_of(pipe))  # before compiling: the compiled graph keeps only hooks it saw
        pipe = with_components(pipe, **{name: torch.compile(denoiser_of(pipe))})
    return pipe


def load_key(variant: Variant) -> tuple:
    return (variant.weights, variant.quant, variant.compile)
