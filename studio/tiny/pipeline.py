"""TinyDiffusionPipeline: the embedded text-to-image / text-to-video model as a real DiffusionPipeline.

The sampler works on the latents of a tiny autoencoder (diffusers' AutoencoderTiny: a 64x64 frame is 16x16x8
numbers), which draws the crisp edges; the denoiser is diffusers' FluxTransformer2DModel, over 2x2 latent
patches for an image and over 2x2 patches of several frames with (frame, row, col) rotary ids for a clip, so diffusers'
cache hooks, torchao quantization and LoRA loading work on it unchanged. Without a `vae` the pipeline works in
pixel space (the first shipped models: Flux on 8x8-pixel patches, WanTransformer3DModel for video).

The transformer predicts the clean sample x0; the pipeline turns that into the flow-matching velocity
v = (x_t - x0) / sigma that FlowMatchEulerDiscreteScheduler expects (see the README's model section).

Example:
    pipe = TinyDiffusionPipeline.from_pretrained("assets/tiny-image")
    image = pipe("a large red circle at the top left", num_inference_steps=50,
                 generator=torch.Generator().manual_seed(0)).images[0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderTiny, DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor, unwrap_module

from studio.tiny.language import parse_prompt
from studio.tiny.text_encoder import ATTRIBUTES, TinyTextEncoder, objects_to_ids

SIGMA_FLOOR = 0.05  # velocity = (x_t - x0) / max(sigma, floor): bounded near the end of sampling


@dataclass
class TinyPipelineOutput(BaseOutput):
    """`images` for the image model (one per prompt); `frames` for the video model (a frame list per prompt)."""

    images: list | np.ndarray | torch.Tensor | None = None
    frames: list | np.ndarray | torch.Tensor | None = None


class _FluxAdapter:
    """Packs images (B, C, H, W) or clips (B, C, F, H, W) into patch tokens for FluxTransformer2DModel and back.

    An image token covers p x p pixels or latents, p being what the transformer's `in_channels` implies. A clip
    token covers 2x2 latents of `pt` frames, `pt` being what `in_channels` implies (2: the 2-frame design, 8: the
    whole clip in every token, so time lives in the channels); rotary ids are (frame, row, col), Flux's three rope
    axes, so one image class serves video with text in joint attention.
    """

    CLIP_PATCH = 2

    def __init__(self, transformer):
        self.in_channels = transformer.config.in_channels

    def __call__(self, transformer, x: torch.Tensor, sigma: torch.Tensor, tokens, pooled) -> torch.Tensor:
        clip = x.dim() == 5
        if not clip:
            x = x.unsqueeze(2)
        b, c, f, h, w = x.shape
        if clip:
            p = self.CLIP_PATCH
            pt = self.in_channels // (c * p * p)
            if pt < 1 or f % pt:
                raise ValueError(f"this video model's tokens hold {pt} frames: the number of frames must be a "
                                 f"multiple of {pt}, got {f}")
        else:
            pt, p = 1, int(round((self.in_channels / c) ** 0.5))
        grid = (f // pt, h // p, w // p)
        packed = (x.reshape(b, c, grid[0], pt, grid[1], p, grid[2], p).permute(0, 2, 4, 6, 1, 3, 5, 7)
                  .reshape(b, grid[0] * grid[1] * grid[2], -1))
        img_ids, txt_ids = _position_ids(grid, tokens.shape[1], x.device, x.dtype)
        out = transformer(hidden_states=packed, timestep=sigma, pooled_projections=pooled,
                          encoder_hidden_states=tokens, txt_ids=txt_ids, img_ids=img_ids, return_dict=False)[0]
        out = out.reshape(b, *grid, c, pt, p, p).permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, c, f, h, w)
        return out if clip else out.squeeze(2)


@functools.lru_cache(maxsize=16)
def _position_ids(grid: tuple[int, int, int], text_tokens: int, device: torch.device, dtype: torch.dtype):
    """(frame, row, col) ids of the image tokens and zero ids of the text tokens: the same on every step, so made
    once (never written to: Flux only reads them)."""
    img_ids = torch.stack(torch.meshgrid(*(torch.arange(n) for n in grid), indexing="ij"), dim=-1)
    img_ids = img_ids.reshape(-1, 3).to(device, dtype)
    return img_ids, torch.zeros(text_tokens, 3, device=device, dtype=dtype)


class RotaryMemo(torch.nn.Module):
    """Flux's rotary tables, kept for the position ids they were made from.

    FluxTransformer2DModel rebuilds them from the ids on every call (about 0.3 ms on these CPUs: a third of a step
    that TeaCache reuses), though the ids are the same on every step of a run. No parameters, so saved weights are
    unchanged.
    """

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self._last: tuple[torch.Tensor, tuple] | None = None

    def forward(self, ids: torch.Tensor):
        if torch.compiler.is_compiling():  # a compiled graph builds the tables cheaply; the memo's check would split it
            return self.inner(ids)
        last = self._last  # one tuple, swapped whole: a concurrent reader never sees ids and tables mismatched
        if last is not None and last[0].shape == ids.shape and last[0].device == ids.device and torch.equal(
                last[0], ids):
            return last[1]
        tables = self.inner(ids)
        self._last = (ids.clone(), tables)
        return tables


def memoize_rotary(transformer) -> None:
    """Give a Flux transformer a RotaryMemo (once); other classes are left as they are."""
    inner = unwrap_module(transformer)
    if type(inner).__name__ == "FluxTransformer2DModel" and not isinstance(inner.pos_embed, RotaryMemo):
        inner.pos_embed = RotaryMemo(inner.pos_embed)


class _WanAdapter:
    """WanTransformer3DModel takes (B, 3, F, H, W) pixels directly and timesteps on the 0..1000 scale."""

    def __init__(self, transformer):
        pass

    def __call__(self, transformer, x: torch.Tensor, sigma: torch.Tensor, tokens, pooled) -> torch.Tensor:
        return transformer(hidden_states=x, timestep=sigma * 1000, encoder_hidden_states=tokens,
                           return_dict=False)[0]


DENOISER_ADAPTERS = {"FluxTransformer2DModel": _FluxAdapter, "WanTransformer3DModel": _WanAdapter}


def denoiser_adapter(transformer):
    name = type(unwrap_module(transformer)).__name__  # torch.compile wraps the module
    if name not in DENOISER_ADAPTERS:
        raise ValueError(f"unsupported transformer class '{name}'; known: {', '.join(DENOISER_ADAPTERS)}")
    return DENOISER_ADAPTERS[name](transformer)


def predict_x0(transformer, x: torch.Tensor, sigma: torch.Tensor, tokens, pooled) -> torch.Tensor:
    """The denoiser's clean-sample prediction for noisy `x` at noise level `sigma` (B,)."""
    return denoiser_adapter(transformer)(transformer, x, sigma, tokens, pooled)


class TinyDiffusionPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _callback_tensor_inputs = ["latents"]
    _optional_components = ["vae"]

    def __init__(self, transformer, text_encoder: TinyTextEncoder, scheduler: FlowMatchEulerDiscreteScheduler,
                 vae: AutoencoderTiny | None = None, video: bool = False):
        super().__init__()
        memoize_rotary(transformer)
        self.register_modules(transformer=transformer, text_encoder=text_encoder, scheduler=scheduler, vae=vae)
        self.register_to_config(video=bool(video))
        self._interrupt = False

    def maybe_free_model_hooks(self):
        """Reset stateful cache hooks after a run, as diffusers does, without its per-call discovery of the
        components through __init__'s signature (about 8 ms, a tenth of a 4-step run on these CPUs)."""
        if getattr(self, "_all_hooks", None):  # model CPU offload is on: diffusers' full version
            return super().maybe_free_model_hooks()
        for component in (self.transformer, self.text_encoder, self.vae):
            if hasattr(component, "_reset_stateful_cache"):
                component._reset_stateful_cache()

    @property
    def is_video(self) -> bool:
        return bool(self.config.video) or type(self.transformer).__name__ == "WanTransformer3DModel"

    def latent_shape(self, height: int, width: int, num_frames: int) -> tuple[int, ...]:
        """Per-sample shape of the tensor the sampler denoises (`latents=`): pixels, or the autoencoder's latents."""
        if height % 8 or width % 8 or not 8 <= min(height, width) <= 1024:
            raise ValueError(f"height and width must be multiples of 8 between 8 and 1024, got {height}x{width}")
        if self.vae is None:
            return (3, num_frames, height, width) if self.is_video else (3, height, width)
        down = 2 ** (len(self.vae.config.encoder_block_out_channels) - 1)
        channels = self.vae.config.latent_channels
        if self.is_video:
            return (channels, num_frames, height // down, width // down)
        return (channels, height // down, width // down)

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def encode_prompt(self, prompt: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Parse (raising PromptError on words outside the language) and embed: tokens (B, K, D), pooled (B, D)."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        ids = objects_to_ids([parse_prompt(p, video=self.is_video) for p in prompts]).to(self.device)
        return self.text_encoder(ids)

    def prepare_latents(self, batch: int, height: int, width: int, num_frames: int, generator, dtype) -> torch.Tensor:
        return randn_tensor((batch, *self.latent_shape(height, width, num_frames)), generator=generator,
                            device=self.device, dtype=dtype)

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [-1, 1], (B, 3, H, W) or (B, 3, F, H, W), to the normalised latents the sampler works in."""
        if self.vae is None:
            return pixels
        frames = _frames_of(pixels)
        z = (self.vae.encode(frames.to(self.vae.dtype)).latents - self.vae.config.shift_factor)
        return _unframe(z * self.vae.config.scaling_factor, pixels)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """The sampler's latents back to pixels in [-1, 1] (identity without an autoencoder)."""
        return latents if self.vae is None else decode_with(self.vae, latents)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        num_inference_steps: int = 50,
        height: int = 64,
        width: int = 64,
        num_frames: int = 8,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        sigmas: list[float] | None = None,
        guidance_scale: float = 1.0,
    ):
        if not 1 <= int(num_inference_steps) <= 1000:
            raise ValueError(f"num_inference_steps must be between 1 and 1000, got {num_inference_steps}")
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"output_type must be one of pil, np, pt, latent; got '{output_type}'")
        if not 1 <= float(guidance_scale) <= 30:
            raise ValueError(f"guidance_scale must be between 1 (no guidance) and 30, got {guidance_scale}")
        self._interrupt = False
        device = self.device  # diffusers finds it by walking every module: once a call, not once a use
        tokens, pooled = self.encode_prompt(prompt)
        guided = guidance_scale > 1
        if guided:  # classifier-free guidance: the empty prompt's prediction rides in the same batch
            empty_tokens, empty_pooled = self.text_encoder(torch.zeros(1, tokens.shape[1], len(ATTRIBUTES),
                                                                       dtype=torch.long, device=device))
            tokens = torch.cat([tokens, empty_tokens.expand_as(tokens)])
            pooled = torch.cat([pooled, empty_pooled.expand_as(pooled)])
        dtype = self.transformer.dtype
        dtype = dtype if dtype.is_floating_point else torch.float32
        tokens, pooled = tokens.to(dtype), pooled.to(dtype)
        if latents is None:
            latents = self.prepare_latents(tokens.shape[0] // (2 if guided else 1), height, width, num_frames,
                                           generator, dtype)
        expected = self.latent_shape(height, width, num_frames)
        if tuple(latents.shape[1:]) != expected or latents.shape[0] != tokens.shape[0] // (2 if guided else 1):
            raise ValueError(f"latents must have shape ({tokens.shape[0] // (2 if guided else 1)}, "
                             f"{', '.join(map(str, expected))}) for {height}x{width}"
                             f"{f', {num_frames} frames' if self.is_video else ''}; got {tuple(latents.shape)}")
        latents = latents.to(device, dtype)

        if sigmas is not None:
            self.scheduler.set_timesteps(sigmas=sigmas, device=device)
        else:
            self.scheduler.set_timesteps(num_inference_steps, device=device)
        self.scheduler.set_begin_index(0)
        timesteps = self.scheduler.timesteps
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    break
                sigma = (t / 1000).expand(latents.shape[0]).to(dtype)
                with self.transformer.cache_context("cond"):
                    if guided:
                        cond, uncond = predict_x0(self.transformer, torch.cat([latents, latents]), sigma.repeat(2),
                                                  tokens, pooled).chunk(2)
                        x0 = uncond + guidance_scale * (cond - uncond)
                    else:
                        x0 = predict_x0(self.transformer, latents, sigma, tokens, pooled)
                view = (-1,) + (1,) * (latents.dim() - 1)
                velocity = (latents - x0) / sigma.clamp(min=SIGMA_FLOOR).view(view)
                latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]
                if callback_on_step_end is not None:
                    available = {"latents": latents}
                    names = callback_on_step_end_tensor_inputs or ["latents"]
                    unknown = [k for k in names if k not in available]
                    if unknown:
                        raise ValueError(f"callback tensor inputs {unknown} unknown; allowed: {list(available)}")
                    outputs = callback_on_step_end(self, i, t, {k: available[k] for k in names})
                    latents = (outputs or {}).pop("latents", latents)
                progress_bar.update()

        self.maybe_free_model_hooks()
        result = self._postprocess(latents, output_type)
        key = "frames" if self.is_video else "images"
        if not return_dict:
            return (result,)
        return TinyPipelineOutput(**{key: result})

    def _postprocess(self, latents: torch.Tensor, output_type: str):
        if output_type == "latent":
            return latents
        pixels = (self.decode_latents(latents).float().clamp(-1, 1) + 1) / 2  # (B, 3, [F,] H, W) in [0, 1]
        if output_type == "pt":
            return pixels
        channels_last = pixels.permute(0, 2, 3, 4, 1) if self.is_video else pixels.permute(0, 2, 3, 1)
        arr = channels_last.cpu().numpy()
        if output_type == "np":
            return arr
        as_pil = [(a * 255).round().astype(np.uint8) for a in arr]
        if self.is_video:
            return [[PIL.Image.fromarray(frame) for frame in clip] for clip in as_pil]
        return [PIL.Image.fromarray(a) for a in as_pil]


def decode_with(vae: AutoencoderTiny, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents, (B, C, H, W) or (B, C, F, H, W), to pixels in [-1, 1] through `vae` (differentiable)."""
    z = _frames_of(latents).to(vae.dtype) / vae.config.scaling_factor + vae.config.shift_factor
    return _unframe(vae.decode(z).sample, latents)


def _frames_of(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) clips as (B*F, C, H, W) frames; images pass through."""
    if x.dim() == 4:
        return x
    b, c, f, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def _unframe(frames: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of _frames_of for a tensor shaped like `like` (channels and size may differ)."""
    if like.dim() == 4:
        return frames
    b, f = like.shape[0], like.shape[2]
    return frames.reshape(b, f, *frames.shape[1:]).permute(0, 2, 1, 3, 4)
