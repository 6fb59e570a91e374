"""A runnable Python file (diffusers + torchao + studio) that reproduces one variant on one prompt and seed.

Example:
    text = reproduction_snippet(preset, preset.variant("teacache"), "a red circle", seed=7, base_steps=None)
    Path("recommended.py").write_text(text)     # then: python recommended.py  -> recommended.png
"""

from __future__ import annotations

from studio.presets import Preset
from studio.schedule import schedule_sigmas
from studio.variant import Variant

# quantization method -> (import line, config expression) for torchao's quantize_
TORCHAO_CONFIGS = {
    "int8wo": ("from torchao.quantization import Int8WeightOnlyConfig", "Int8WeightOnlyConfig()"),
    "int8dq": ("from torchao.quantization import Int8DynamicActivationInt8WeightConfig",
               "Int8DynamicActivationInt8WeightConfig()"),
    "fp8wo": ("from torchao.quantization import Float8WeightOnlyConfig", "Float8WeightOnlyConfig()"),
    "fp8dqrow": ("from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow",
                 "Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())"),
    "mxfp8": ("from torchao.prototype.mx_formats import MXDynamicActivationMXWeightConfig",
              "MXDynamicActivationMXWeightConfig()"),
    "nvfp4": ("from torchao.prototype.mx_formats import NVFP4DynamicActivationNVFP4WeightConfig",
              "NVFP4DynamicActivationNVFP4WeightConfig()"),
    "int4wo": ("from torchao.quantization import Int4WeightOnlyConfig", "Int4WeightOnlyConfig(group_size=128)"),
}
SCHEDULER_CLASSES = {"euler": "FlowMatchEulerDiscreteScheduler", "heun": "FlowMatchHeunDiscreteScheduler"}


def _load_lines(preset: Preset) -> list[str]:
    if preset.pipeline == "tiny":
        return ["from studio.presets import REPO_ROOT",
                "from studio.tiny.pipeline import TinyDiffusionPipeline  # a diffusers DiffusionPipeline",
                "",
                f'pipe = TinyDiffusionPipeline.from_pretrained(REPO_ROOT / "{preset.source}", '
                f"dtype=torch.float32).to(device)"]
    revision = f", revision={preset.revision!r}" if preset.revision else ""
    return [f"from diffusers import {preset.pipeline}",
            "",
            f'dtype = torch.float32 if device.type == "cpu" else torch.{preset.dtype}',
            f"pipe = {preset.pipeline}.from_pretrained({preset.source!r}{revision}, dtype=dtype).to(device)"]


def reproduction_snippet(preset: Preset, variant: Variant, prompt: str, seed: int, base_steps: int | None,
                         reason: str = "", chosen_by: str = "python -m studio bench",
                         negative_prompt: str | None = None) -> str:
    """Python source reproducing `variant` of `preset` on (prompt, seed); `base_steps` as passed to the bench (or
    compare) that chose it."""
    steps = variant.steps or base_steps or preset.steps
    lines = [
        f'"""Reproduce variant {variant.name!r} (slug {variant.slug}) of preset {preset.name!r}, chosen by '
        f"`{chosen_by}`.",
        "",
        *([f"Why: {reason}", ""] if reason else []),
        "Run from the Speed-Up Studio checkout (PYTHONPATH=.):  python recommended.py   -> recommended.png",
        '"""',
        "",
        "import torch",
        "",
        f"PROMPT = {prompt!r}",
        *([f"NEGATIVE_PROMPT = {negative_prompt!r}"] if negative_prompt else []),
        f"SEED = {seed}",
        f"STEPS = {steps}",
        'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")',
        "",
        *_load_lines(preset),
        'denoiser_name = "transformer" if getattr(pipe, "transformer", None) is not None else "unet"',
    ]
    if variant.weights.source != "base":
        w = variant.weights
        lines += ["", "# other denoiser weights (distilled checkpoint, LoRA or local student)",
                  "from studio.engine.loading import load_weights_pipeline, set_lora_active",
                  "from studio.variant import WeightsSpec",
                  f"weights = WeightsSpec({w.source!r}, {w.ref!r}, {w.revision!r}, {w.lora_scale!r}, {w.name!r})",
                  "pipe = load_weights_pipeline(pipe, weights, device)",
                  "set_lora_active(pipe, weights)  # a LoRA at its scale (nothing to do for other weights)"]
    if variant.quant:
        method = variant.quant.method
        if method in TORCHAO_CONFIGS:
            imp, expr = TORCHAO_CONFIGS[method]
            lines += ["", f"# torchao {method}: quantize_ changes the denoiser in place",
                      "from torchao.quantization import quantize_", imp,
                      f"quantize_(getattr(pipe, denoiser_name), {expr})"]
        else:
            lines += ["", f"# quantization {method!r}: load the pre-quantized checkpoint "
                          f"{variant.quant.checkpoint!r} as the preset describes"]
    if variant.scheduler:
        cls = SCHEDULER_CLASSES.get(variant.scheduler, variant.scheduler)
        lines += ["", f"from diffusers import {cls}",
                  f"pipe.scheduler = {cls}.from_config(pipe.scheduler.config)"]
    if variant.compile:
        lines += ["", "setattr(pipe, denoiser_name, torch.compile(getattr(pipe, denoiser_name)))"]
    width, height = preset.width, preset.height
    lines += ["", f'kwargs = {{"prompt": PROMPT, "num_inference_steps": STEPS, "height": {height}, "width": {width}, '
                  f'"output_type": "pil"}}']
    if preset.media == "video":
        lines.append(f'kwargs["num_frames"] = {preset.frames}')
    if negative_prompt:
        lines.append('kwargs["negative_prompt"] = NEGATIVE_PROMPT')
    if preset.pipeline == "tiny":
        shape = f"(1, *pipe.latent_shape({height}, {width}, {preset.frames}))"
        lines += ["# the bench's initial noise: drawn on the CPU from the seed, the same for every variant",
                  f'kwargs["latents"] = torch.randn({shape}, generator=torch.Generator("cpu").manual_seed(SEED))'
                  f".to(device)"]
    else:
        lines.append('kwargs["generator"] = torch.Generator("cpu").manual_seed(SEED)')
    guidance = preset.guidance_for(variant)
    if guidance is not None:
        lines.append(f'kwargs["guidance_scale"] = {guidance!r}')
    if variant.schedule:
        lines.append(f'kwargs["sigmas"] = {schedule_sigmas(variant.schedule, steps)!r}  # the {variant.schedule!r} '
                     "schedule's noise levels")
    if variant.cache:
        c = variant.cache
        lines += ["", "# the cache: diffusers' hooks (or studio's TeaCache), removed again when the block ends",
                  "from studio.engine.caches import cache_applied",
                  "from studio.variant import CacheSpec",
                  f"coefficients = {tuple(preset.teacache_coefficients) if preset.teacache_coefficients else None}",
                  f"with cache_applied(pipe, CacheSpec({c.kind!r}, {c.value!r}, {c.params!r}), STEPS, coefficients):",
                  "    out = pipe(**kwargs)"]
    else:
        lines += ["", "out = pipe(**kwargs)"]
    if preset.media == "video":
        lines += ["from diffusers.utils import export_to_video", "",
                  'export_to_video(out.frames[0], "recommended.mp4", fps=8)',
                  'print("wrote recommended.mp4")']
    else:
        lines += ['out.images[0].save("recommended.png")', 'print("wrote recommended.png")']
    return "\n".join(lines) + "\n"
