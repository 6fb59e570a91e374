"""Decoding in bfloat16 on CPUs that compute it natively.

The embedded models' autoencoder decoder is a stack of small 3x3 convolutions. On a CPU with AMX or AVX512-BF16,
oneDNN runs them in bfloat16 with channels-last memory about 5x faster than in float32 (8 frames of 64x64 on this
project's 2-core Xeon: 61 ms -> 14 ms; pixels move by a few 1/255). Without those instructions bfloat16 is
emulated and slower, so the decoder stays float32. Every variant of a preset shares one decoder, so the choice
never favours one variant over another.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from studio.config import optional_flag

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
OVERRIDE_ENV = "STUDIO_CPU_BF16"  # "1" / "0": force bfloat16 decoding on or off (a CPU whose flags mislead)
CPUINFO = Path("/proc/cpuinfo")


def cpu_has_native_bf16(cpuinfo: Path = CPUINFO, environ=None) -> bool:
    """True when the CPU advertises native bfloat16 arithmetic (Linux flags), unless STUDIO_CPU_BF16 says otherwise."""
    override = optional_flag(os.environ if environ is None else environ, OVERRIDE_ENV)  # ConfigError if not yes/no
    if override is not None:
        return override
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:  # not Linux: no flags to read, stay on float32
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def decoder_dtype(wanted: str, device: torch.device, environ=None) -> torch.dtype | None:
    """bfloat16 when a preset wants its VAE in bfloat16 on a CPU (`wanted`, its `cpu_vae_dtype`) and this CPU has
    it natively; None (leave the VAE as loaded) otherwise, and always on accelerators (the preset's dtype rules)."""
    if device.type != "cpu" or wanted != "bfloat16":
        return None
    return torch.bfloat16 if cpu_has_native_bf16(environ=environ) else None


def apply_cpu_decoder_precision(pipe, wanted: str, device: torch.device, environ=None) -> str | None:
    """Move `pipe`'s VAE to bfloat16 + channels-last where `decoder_dtype` says so. Returns the decoder's dtype
    name (None: no VAE)."""
    vae = getattr(pipe, "vae", None)
    if vae is None:
        return None
    dtype = decoder_dtype(wanted, device, environ)
    if dtype is not None:
        # torch's own .to: diffusers' override warns about fp32-kept modules even when the list is empty
        torch.nn.Module.to(vae, dtype=dtype, memory_format=torch.channels_last)
    return vae_dtype_name(pipe)


def vae_dtype_name(pipe) -> str | None:
    """The dtype of `pipe`'s VAE weights as a name ("bfloat16"); None without a VAE (or without a pipeline)."""
    vae = getattr(pipe, "vae", None)
    params = list(vae.parameters()) if vae is not None else []
    return str(params[0].dtype).removeprefix("torch.") if params else None
