"""LoRA step-distillation of real diffusers transformer pipelines (FLUX, Wan, ...) by reflow.

The same method as the embedded models (studio/distill/reflow.py, rectified-flow distillation on teacher
noise -> sample pairs), adapted to a frozen multi-billion-parameter denoiser:

1. Teacher pairs. The preset's pipeline, loaded as the engine loads it, runs its full sampler once per pair with
   `output_type="latent"`. A forward pre-hook records the transformer's FIRST call: its `hidden_states` are the
   initial noise in the pipeline's own latent layout (packed for FLUX), the other keyword arguments are the
   conditioning (text embeddings, ids, embedded guidance, ...). The latents after the last step, taken in that
   same layout through `callback_on_step_end` (before any un-packing), are the teacher sample x0.
2. Student noise levels. The pipeline is started once per student step count and stopped at its first
   transformer call: by then it has set its scheduler up (dynamic shifting included), so `scheduler.sigmas`
   are exactly the levels the few-step sampler visits.
3. Training. A peft LoRA on the attention projections (base weights frozen) learns the straight-line velocity
   `noise - x0` at `x_t = (1 - s) x0 + s noise`, called with the recorded conditioning and `timestep = s * scale`
   (`scale` = recorded first timestep / first sigma: 1 for FLUX, 1000 for Wan). Flow-matching Euler then follows
   the straight path from each noise to its teacher sample in few steps.

Pipelines that run classifier-free guidance as two separate transformer calls (Wan) distil the
guided trajectory into the conditional branch: the student then runs without guidance (`guidance_scale` 1), one
call per step. Pipelines that batch both branches into one call (SD3, LTX, Sana) are refused, as are UNet
pipelines (SDXL) and non-flow-matching schedulers.

The result is saved in diffusers' LoRA format (`Pipeline.save_lora_weights`), so the engine's "lora" weights
source loads it with `load_lora_weights` and switches it on only for its own variant.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from studio.usage import DistillUsageError
from studio.wording import counted

SUPPORTED = ("FluxPipeline and WanPipeline (Wan 2.1), and other flow-matching transformer pipelines that call the "
             "transformer with keyword arguments once per prompt and guidance branch")
# Attention projections of diffusers' transformers: image stream (to_*) and text stream (add_*, to_add_out).
ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
DEFAULTS = {"pairs": 256, "train_steps": 1000, "batch": 1, "lr": 1e-4, "ema_decay": 0.0}
PAIRS_PER_CHUNK = 16
# Used when no --prompts file is given: varied subjects, styles and layouts, written for this project.
DEFAULT_PROMPTS = (
    "a photo of a red fox sitting in fresh snow, morning light",
    "a bowl of ramen with a soft-boiled egg on a wooden table, top view",
    "an old lighthouse on a rocky coast during a storm, dramatic clouds",
    "a watercolor painting of a quiet canal in a small european town",
    "a portrait of an elderly fisherman with a grey beard, close-up, natural light",
    "a futuristic city skyline at night with neon signs and flying cars",
    "a cup of coffee next to an open notebook and a pencil, shallow depth of field",
    "a golden retriever puppy running across a green meadow",
    "a minimalist poster with the word HELLO in bold blue letters",
    "a mountain lake reflecting snowy peaks at sunrise",
    "an astronaut riding a horse on the surface of the moon, cinematic",
    "a cozy living room with a fireplace, a grey sofa and plants",
    "a macro photo of a dew drop on a green leaf",
    "a street market in marrakech full of spices and colorful fabrics",
    "a pixel art castle on a hill with a dragon flying above it",
    "a bicycle leaning against a yellow wall in the afternoon sun",
    "a plate of fresh sushi on a black slate, studio lighting",
    "a child flying a kite on a windy beach, wide shot",
    "an oil painting of sunflowers in a blue vase",
    "a robot reading a book in a library, soft warm light",
    "a herd of elephants crossing a dusty savanna at sunset",
    "a glass of orange juice with ice cubes, product photo on white",
    "a snowy forest path with footprints leading into the distance",
    "a vintage red car parked in front of a diner at dusk",
)


# ---- device and pipeline checks ------------------------------------------------------------------------------------
def training_device(preset, allow_cpu: bool) -> torch.device:
    """CUDA when there is one; a CPU only for a local model folder (tiny test pipelines) or with --allow-cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if preset.is_local or allow_cpu:
        return torch.device("cpu")
    raise DistillUsageError(
        f"preset '{preset.name}' is a {preset.family} model: LoRA distillation needs a CUDA GPU and none is "
        f"available here (the preset asks for {preset.requirements or 'a CUDA GPU'}); pass --allow-cpu to try on a "
        "CPU anyway (only practical for tiny test models)")


def check_pipeline(pipe) -> torch.nn.Module:
    """The pipeline's transformer, after refusing what this method cannot distil (with what it can)."""
    name = type(pipe).__name__
    transformer = getattr(pipe, "transformer", None)
    if transformer is None:
        raise DistillUsageError(f"{name} has no transformer (a UNet pipeline); LoRA distillation supports {SUPPORTED}")
    if getattr(pipe, "transformer_2", None) is not None:
        raise DistillUsageError(f"{name} switches between two transformers (Wan 2.2 experts); LoRA distillation "
                                f"supports {SUPPORTED}")
    scheduler = type(getattr(pipe, "scheduler", None)).__name__
    if not scheduler.startswith("FlowMatch"):
        raise DistillUsageError(f"{name} samples with {scheduler}, not a flow-matching scheduler; LoRA distillation "
                                f"supports {SUPPORTED}")
    if not hasattr(type(pipe), "save_lora_weights") or not hasattr(pipe, "load_lora_weights"):
        raise DistillUsageError(f"{name} cannot save or load LoRA weights in diffusers; LoRA distillation supports "
                                f"{SUPPORTED}")
    return transformer


# ---- recording the transformer's calls ---------------------------------------------------------------------------
class _ProbeDone(Exception):
    """Stops a pipeline at its first transformer call (the scheduler is set up by then)."""


class CallRecorder:
    """A forward pre-hook that keeps the first call's keyword arguments (on the CPU) and counts the calls."""

    def __init__(self, module: torch.nn.Module, stop_at_first: bool = False):
        self.kwargs: dict | None = None
        self.calls = 0
        self.stop_at_first = stop_at_first
        self._handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        self.calls += 1
        if self.kwargs is None:
            if args:
                raise DistillUsageError(f"the pipeline passes {len(args)} positional argument(s) to its transformer; "
                                        f"LoRA distillation supports {SUPPORTED}")
            self.kwargs = {k: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v for k, v in kwargs.items()}
        if self.stop_at_first:
            raise _ProbeDone

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.remove()


def record_teacher_pair(pipe, call_kwargs: dict, steps: int) -> dict:
    """Run the teacher once; returns its initial noise, final latents x0, conditioning and timestep scale."""
    name = type(pipe).__name__
    last: dict = {}

    def keep_latents(_pipe, _i, _t, tensors: dict) -> dict:
        last["latents"] = tensors["latents"]
        return {}

    with CallRecorder(pipe.transformer) as rec:
        pipe(**{**call_kwargs, "output_type": "latent"}, callback_on_step_end=keep_latents, return_dict=False)
    x0 = last.get("latents")
    first = rec.kwargs or {}
    noise, timestep = first.get("hidden_states"), first.get("timestep")
    if not torch.is_tensor(noise) or not torch.is_tensor(timestep):
        raise DistillUsageError(f"{name} does not pass hidden_states and timestep as keyword tensors to its "
                                f"transformer; LoRA distillation supports {SUPPORTED}")
    if noise.shape[0] != 1:
        raise DistillUsageError(
            f"{name} calls its transformer with a batch of {noise.shape[0]} for one prompt (classifier-free "
            f"guidance batched into one call); LoRA distillation supports {SUPPORTED}")
    if timestep.shape != (1,):
        raise DistillUsageError(f"{name} passes a timestep of shape {tuple(timestep.shape)} (per-token timesteps); "
                                f"LoRA distillation supports {SUPPORTED}")
    if not torch.is_tensor(x0) or x0.shape != noise.shape:
        raise DistillUsageError(f"{name} keeps latents of shape {tuple(getattr(x0, 'shape', ()))} between steps, "
                                f"not its transformer's input layout {tuple(noise.shape)}; LoRA distillation "
                                f"supports {SUPPORTED}")
    sigma0 = float(pipe.scheduler.sigmas[0])
    cond = {k: v for k, v in first.items() if torch.is_tensor(v) and k not in ("hidden_states", "timestep")}
    static = {k: v for k, v in first.items() if not torch.is_tensor(v) and k != "return_dict"}
    for key, value in static.items():
        if not _plain(value):
            raise DistillUsageError(f"{name} passes '{key}' ({type(value).__name__}) to its transformer, which "
                                    "cannot be recorded; run the teacher without extra attention arguments")
    return {"noise": noise, "x0": x0.detach().to("cpu", noise.dtype), "timestep": timestep, "sigma0": sigma0,
            "cond": cond, "static": static, "calls_per_step": rec.calls / steps}


def _plain(value) -> bool:
    """Whether a non-tensor argument can be stored with the pairs (and loaded with weights_only=True)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def timestep_scale(timestep: float, sigma: float) -> float:
    """Timestep units per unit of sigma, snapped to a power of ten: FLUX passes sigma (1), SD3/Wan sigma*1000.
    Snapping removes the bf16 rounding of the recorded timestep."""
    if sigma <= 0 or timestep <= 0:
        raise DistillUsageError(f"cannot infer the timestep scale (first timestep {timestep}, first sigma {sigma})")
    ratio = timestep / sigma
    power = round(math.log10(ratio))
    return float(10**power) if abs(math.log10(ratio) - power) < 0.005 else ratio


def student_sigmas(pipe, call_kwargs: dict, step_counts: list[int]) -> list[float]:
    """The noise levels the pipeline's own sampler visits with each step count (dynamic shifting included)."""
    levels: set[float] = set()
    for n in step_counts:
        with CallRecorder(pipe.transformer, stop_at_first=True):
            try:
                pipe(**{**call_kwargs, "num_inference_steps": n, "output_type": "latent"}, return_dict=False)
            except _ProbeDone:
                pass
        levels.update(round(float(s), 6) for s in pipe.scheduler.sigmas[:n])
    return sorted(levels, reverse=True)


# ---- teacher pairs -------------------------------------------------------------------------------------------------
@dataclass
class PairBank:
    """Teacher pairs in the transformer's layout: noise and x0 (P, ...), conditioning per pair (P, ...) or shared."""

    noise: torch.Tensor
    x0: torch.Tensor
    per_pair: dict[str, torch.Tensor]
    shared: dict[str, torch.Tensor]
    static: dict
    timestep_dtype: torch.dtype
    scale: float
    calls_per_step: float

    def __len__(self) -> int:
        return self.noise.shape[0]

    def conditioning(self, idx: torch.Tensor, device: torch.device) -> dict:
        kwargs = {k: v[idx].to(device) for k, v in self.per_pair.items()}
        kwargs.update({k: v.to(device) for k, v in self.shared.items()})
        return {**self.static, **kwargs}


def _bank(records: list[dict]) -> PairBank:
    first = records[0]
    per_pair, shared = {}, {}
    for key, value in first["cond"].items():
        values = [r["cond"].get(key) for r in records]
        if any(v is None or v.shape != value.shape for v in values):
            raise DistillUsageError(f"the transformer's '{key}' changes shape between prompts; LoRA distillation "
                                    "needs the pipeline to pad every prompt to one length")
        if value.dim() > 0 and value.shape[0] == 1:
            per_pair[key] = torch.cat(values)
        elif all(torch.equal(v, value) for v in values):
            shared[key] = value  # e.g. FLUX's txt_ids / img_ids: (N, 3), the same for every prompt
        else:
            raise DistillUsageError(f"the transformer's '{key}' has no batch dimension but differs between prompts")
    return PairBank(noise=torch.cat([r["noise"] for r in records]), x0=torch.cat([r["x0"] for r in records]),
                    per_pair=per_pair, shared=shared, static=first["static"], timestep_dtype=first["timestep"].dtype,
                    scale=timestep_scale(float(first["timestep"][0]), first["sigma0"]),
                    calls_per_step=first["calls_per_step"])


@torch.no_grad()
def teacher_pairs(engine, prompts: list[str], count: int, teacher_steps: int, workdir: Path, seed: int) -> PairBank:
    """Generate (or resume) `count` pairs in seeded chunks under `workdir`; a chunk is complete or absent."""
    from studio.engine.request import RunRequest

    pipe = engine.base_pipeline()
    baseline = engine.preset.variants["baseline"]
    prompt_tag = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:10]
    folder = workdir / f"lora-pairs-{teacher_steps}steps-seed{seed}-{prompt_tag}"
    folder.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    n_chunks = -(-count // PAIRS_PER_CHUNK)
    bar = tqdm(total=count, desc=f"teacher pairs ({teacher_steps} steps)", mininterval=5)
    for c in range(n_chunks):
        path = folder / f"chunk-{c:05d}.pt"
        size = min(PAIRS_PER_CHUNK, count - c * PAIRS_PER_CHUNK)
        if path.exists():
            chunk = torch.load(path, weights_only=True)["records"]
        if not path.exists() or len(chunk) < size:
            rng = random.Random(seed * 1_000_003 + c)
            chunk = []
            for i in range(size):
                request = RunRequest(rng.choice(prompts), seed=seed * 1_000_003 + c * PAIRS_PER_CHUNK + i)
                chunk.append(record_teacher_pair(pipe, engine.call_kwargs(baseline, request, teacher_steps, None),
                                                 teacher_steps))
                bar.update(1)
            tmp = path.with_suffix(".tmp")
            torch.save({"records": chunk}, tmp)
            tmp.replace(path)  # a killed run resumes at the first missing chunk
        else:
            bar.update(size)
        records.extend(chunk[:size])
    bar.close()
    print(f"{len(records)} teacher pairs ready in {folder}", file=sys.stderr)
    return _bank(records)


# ---- the LoRA student ----------------------------------------------------------------------------------------------
def add_lora_(transformer: torch.nn.Module, rank: int) -> torch.nn.ParameterList:
    """Freeze the transformer and add a LoRA (alpha = rank) on its attention projections; returns its parameters
    (float32 for stable updates of a bf16 model). Raising the rank trades memory and time for capacity."""
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    present = {name for name, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    targets = [p for p in ATTENTION_PROJECTIONS if any(n == p or n.endswith("." + p) for n in present)]
    if not targets:
        raise DistillUsageError(f"{type(transformer).__name__} has none of the attention projections "
                                f"{', '.join(ATTENTION_PROJECTIONS)}; LoRA distillation supports {SUPPORTED}")
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                       target_modules=targets))
    cast_training_params(transformer, torch.float32)
    return torch.nn.ParameterList([p for p in transformer.parameters() if p.requires_grad])


def velocity_loss_at(transformer: torch.nn.Module, bank: PairBank, idx: torch.Tensor, sigma: torch.Tensor,
                     device: torch.device) -> torch.Tensor:
    """MSE between the student's velocity and the straight-line velocity (noise - x0) of pairs `idx` at `sigma`."""
    noise, x0 = bank.noise[idx].to(device, torch.float32), bank.x0[idx].to(device, torch.float32)
    s = sigma.to(device).view(-1, *([1] * (noise.dim() - 1)))
    x_t = (1 - s) * x0 + s * noise  # (B, ...) on the straight path between each pair
    timestep = (sigma * bank.scale).to(device, bank.timestep_dtype)
    velocity = transformer(**bank.conditioning(idx, device), hidden_states=x_t.to(bank.noise.dtype),
                           timestep=timestep, return_dict=False)[0]
    return F.mse_loss(velocity.float(), noise - x0)


def velocity_loss(transformer: torch.nn.Module, bank: PairBank, sigmas: list[float], batch: int,
                  gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """The training loss: `batch` random pairs, each at a random student noise level."""
    idx = torch.randint(len(bank), (batch,), generator=gen)
    sigma = torch.tensor(sigmas)[torch.randint(len(sigmas), (batch,), generator=gen)]
    return velocity_loss_at(transformer, bank, idx, sigma, device)


@torch.no_grad()
def fit_loss(transformer: torch.nn.Module, bank: PairBank, sigmas: list[float], device: torch.device,
             batch: int, pairs: int = 16) -> float:
    """The velocity loss over the first `pairs` pairs at every student noise level: one fixed figure to compare
    before and after training (the per-step losses draw random pairs and levels, so they are noisy)."""
    losses = []
    for start in range(0, min(pairs, len(bank)), batch):
        idx = torch.arange(start, min(start + batch, pairs, len(bank)))
        losses += [velocity_loss_at(transformer, bank, idx, torch.full((len(idx),), s), device).item() * len(idx)
                   for s in sigmas]
    return sum(losses) / (min(pairs, len(bank)) * len(sigmas))


def save_lora(pipe, transformer: torch.nn.Module, out: Path, dtype: torch.dtype) -> Path:
    """Save the adapter in diffusers' LoRA format (pytorch_lora_weights.safetensors with its peft config)."""
    from peft.utils import get_peft_model_state_dict

    layers = {k: v.detach().to(dtype) for k, v in get_peft_model_state_dict(transformer).items()}
    out.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(out, transformer_lora_layers=layers, safe_serialization=True,
                                 transformer_lora_adapter_metadata=transformer.peft_config["default"].to_dict())
    return out / "pytorch_lora_weights.safetensors"


def _offload_all_but(pipe, keep: torch.nn.Module) -> None:
    """Training needs only the transformer: text encoders and VAE leave the GPU (about 10 GB for FLUX)."""
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module) and module is not keep:
            module.to("cpu")


def _preset_file(name: str) -> str:
    """Where preset `name` is written (presets/ or STUDIO_PRESETS_DIR), for the message that says what to add."""
    from studio.presets import PresetError, preset_path

    try:
        return str(preset_path(name))
    except PresetError:  # a preset built in code (tests): no file
        return f"the preset file of '{name}'"


def _suggested_variant(out: Path, steps: int, guidance: float | None) -> str:
    guidance_line = f"\nguidance = {guidance}" if guidance is not None else ""
    return (f'[weights.lora]\nref = "{out}"\nlora_scale = 1.0\n\n'
            f'[variants.distilled-lora]\nweights = "lora"\nsteps = {steps}{guidance_line}')


def run_lora(args, preset, counts: list[int], workdir: Path, prompts: list[str]) -> int:
    """`distill` on a real-model preset: teacher pairs, LoRA reflow training, diffusers LoRA file in args.out."""
    from studio.engine.loading import DTYPES
    from studio.engine.request import RunRequest
    from studio.engine.runner import Engine
    from studio.training import train_loop

    device = training_device(preset, args.allow_cpu)
    engine = Engine(preset, device=device)
    pipe = engine.base_pipeline()
    transformer = check_pipeline(pipe)
    teacher_steps = args.teacher_steps or preset.steps
    bank = teacher_pairs(engine, prompts, args.pairs, teacher_steps, workdir, args.seed)
    probe = engine.call_kwargs(preset.variants["baseline"], RunRequest(prompts[0], seed=args.seed), 1, None)
    sigmas = student_sigmas(pipe, probe, counts)
    print(f"student noise levels ({', '.join(map(str, counts))} steps): {sigmas}; timestep = sigma x {bank.scale:g}",
          file=sys.stderr)

    if device.type == "cuda":
        _offload_all_but(pipe, transformer)
        if getattr(transformer, "_supports_gradient_checkpointing", False):
            transformer.enable_gradient_checkpointing()  # activations of every block would not fit at 1024x1024
    torch.manual_seed(args.seed)  # peft draws the LoRA's initial A matrices from the global generator
    params = add_lora_(transformer, args.lora_rank)
    before = fit_loss(transformer, bank, sigmas, device, args.batch)  # LoRA B starts at zero: the base model
    transformer.train()

    def loss_at(step: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        return velocity_loss(transformer, bank, sigmas, args.batch, gen, device)

    started = time.time()
    ema = train_loop(params, loss_at, steps=args.train_steps, lr=args.lr, workdir=workdir,
                     desc=f"distill {preset.name} -> {counted(args.student_steps, 'step')} (LoRA r{args.lora_rank})",
                     ema_decay=args.ema_decay, checkpoint_every=args.checkpoint_every,
                     warmup=min(50, args.train_steps // 10))
    with torch.no_grad():
        for p, e in zip(params, ema, strict=True):
            p.copy_(e)
    transformer.eval()
    after = fit_loss(transformer, bank, sigmas, device, args.batch)
    print(f"velocity loss on the first {min(16, len(bank))} pairs at every student level: {before:.5f} before, "
          f"{after:.5f} after training", file=sys.stderr)
    out = Path(args.out)
    save_lora(pipe, transformer, out, DTYPES[preset.dtype] if device.type == "cuda" else torch.float32)
    # Separate guidance calls were distilled into the conditional branch: the student runs without them.
    guidance = 1.0 if bank.calls_per_step > 1 else engine.guidance_for(preset.variants["baseline"])
    (out / "distill.json").write_text(json.dumps({
        "method": "reflow (rectified-flow distillation on teacher pairs), LoRA student", "preset": preset.name,
        "pipeline": type(pipe).__name__, "student_steps": args.student_steps, "trained_for_steps": counts,
        "sigmas": sigmas, "timestep_scale": bank.scale, "teacher_steps": teacher_steps,
        "teacher_calls_per_step": bank.calls_per_step, "run_with_guidance": guidance, "lora_rank": args.lora_rank,
        "pairs": args.pairs, "train_steps": args.train_steps, "batch": args.batch, "lr": args.lr,
        "ema_decay": args.ema_decay, "seed": args.seed, "prompts_file": args.prompts, "device": device.type,
        "fit_loss_before": before, "fit_loss_after": after,
        "seconds_this_run": round(time.time() - started)}, indent=2))
    (out / "loss.csv").write_text((workdir / "loss.csv").read_text())
    print(f"LoRA student saved to {out}; to compare it, add to {_preset_file(preset.name)}:\n"
          f"{_suggested_variant(out.resolve(), args.student_steps, guidance)}", file=sys.stderr)
    return 0
