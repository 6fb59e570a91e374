"""Turn a QuantSpec into torchao quantization of a denoiser, after checking the hardware can run it.

`quantize_denoiser_` mutates in place (torchao's quantize_ cannot be undone), so the engine quantizes a copy of
the denoiser and keys loaded pipelines by quantization method.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class QuantMethod:
    description: str
    min_cuda_capability: tuple[int, int] | None  # None: runs on CPU and any CUDA GPU
    requirement: str


QUANT_METHODS = {
    "int8wo": QuantMethod("int8 weight-only", None, "any CPU or GPU"),
    "int8dq": QuantMethod("int8 dynamic activations + int8 weights", None, "any CPU or GPU"),
    "fp8wo": QuantMethod("float8 weight-only", (8, 9), "a CUDA GPU with compute capability >= 8.9 (Ada, Hopper)"),
    "fp8dqrow": QuantMethod("float8 dynamic activations, per-row scales", (8, 9),
                            "a CUDA GPU with compute capability >= 8.9 (Ada, Hopper)"),
    "mxfp8": QuantMethod("MX float8 (block scales)", (10, 0), "a Blackwell GPU (compute capability >= 10.0)"),
    "nvfp4": QuantMethod("NVIDIA float4 (NVFP4)", (10, 0), "a Blackwell GPU (compute capability >= 10.0)"),
    "int4wo": QuantMethod("int4 weight-only (group size 128)", (8, 0),
                          "a CUDA GPU with compute capability >= 8.0 (torchao's int4 kernels)"),
    "prequant": QuantMethod("pre-quantized checkpoint", None, "whatever the checkpoint was made for"),
}


def _torchao_config(method: str):
    """Library config per method; imported lazily because some live in torchao's prototype namespace."""
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Float8WeightOnlyConfig,
        Int4WeightOnlyConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        PerRow,
    )

    def mx(name):
        from torchao.prototype import mx_formats

        return getattr(mx_formats, name)()

    builders = {
        "int8wo": Int8WeightOnlyConfig,
        "int8dq": Int8DynamicActivationInt8WeightConfig,
        "fp8wo": Float8WeightOnlyConfig,
        "fp8dqrow": lambda: Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()),
        "mxfp8": lambda: mx("MXDynamicActivationMXWeightConfig"),
        "nvfp4": lambda: mx("NVFP4DynamicActivationNVFP4WeightConfig"),
        "int4wo": lambda: Int4WeightOnlyConfig(group_size=128),
    }
    return builders[method]()


def hardware_support(method: str, device: torch.device) -> tuple[bool, str]:
    """(runs here?, reason). Used before loading anything, so a bad choice fails in milliseconds."""
    if method not in QUANT_METHODS:
        return False, f"unknown quantization '{method}'; known: {', '.join(QUANT_METHODS)}"
    need = QUANT_METHODS[method]
    if need.min_cuda_capability is None:
        return True, f"{need.description} runs on {need.requirement}"
    if device.type != "cuda":
        return False, f"{method} ({need.description}) needs {need.requirement}; this run is on the {device.type}"
    capability = torch.cuda.get_device_capability(device)
    if capability < need.min_cuda_capability:
        return False, (f"{method} ({need.description}) needs {need.requirement}; this GPU has compute capability "
                       f"{capability[0]}.{capability[1]}")
    return True, f"{need.description} runs on this GPU"


def quantize_denoiser_(denoiser: torch.nn.Module, method: str, device: torch.device) -> torch.nn.Module:
    """Quantize `denoiser` in place with torchao; raises ValueError naming the requirement if it can't run here."""
    ok, reason = hardware_support(method, device)
    if not ok:
        raise ValueError(reason)
    if method == "prequant":
        raise ValueError("'prequant' weights are loaded already quantized; there is nothing to apply")
    from torchao.quantization import quantize_

    quantize_(denoiser, _torchao_config(method))
    return denoiser
