"""Measuring a run fairly: clocks that wait for the GPU, peak memory, and true weight bytes."""

from __future__ import annotations

import os
import threading
import time

import torch
from diffusers.utils.torch_utils import unwrap_module


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so the clock measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes a tensor really holds, looking inside tensor subclasses (torchao's quantized tensors)."""
    if hasattr(t, "__tensor_flatten__"):
        names, _ = t.__tensor_flatten__()
        return sum(tensor_bytes(getattr(t, n)) for n in names if isinstance(getattr(t, n), torch.Tensor))
    return t.numel() * t.element_size()


def module_weight_bytes(module: torch.nn.Module) -> int:
    """Parameters plus buffers, counted once even when shared."""
    seen, total = set(), 0
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += tensor_bytes(t)
    return total


class ComputedStepProbe:
    """Counts calls of the denoiser's last attention layer: a step that ran it was computed, one a cache skipped
    was reused. Installed once per module and kept (`computed_step_probe`): torch.compile traces the module when it
    first runs, so the probe must be there before that, and it wraps the layer's `forward` instead of registering
    a forward hook, because compiled code resumed after a graph break (a cache's eager decision) drops submodule
    hooks but keeps replaced forwards."""

    def __init__(self, module: torch.nn.Module):
        layers = [m for n, m in module.named_modules() if n.endswith(("attn.to_q", "attn1.to_q"))]
        with torch.inference_mode(False):  # a normal tensor: counted into inside and outside inference mode
            self.calls = torch.zeros((), dtype=torch.int64)  # a tensor, not an int: compiled code would guard on an int
        if layers:
            layers[-1].forward = _CountedForward(self, layers[-1].forward)

    def take(self) -> int:
        """Calls since the last take."""
        calls = int(self.calls)
        self.calls.zero_()
        return calls


class _CountedForward:
    """A layer's forward that counts its calls (a plain object, so a deep copy of the module counts for itself)."""

    def __init__(self, probe: ComputedStepProbe, forward):
        self.probe, self.forward = probe, forward

    def __call__(self, *args, **kwargs):
        self.probe.calls.add_(1)
        return self.forward(*args, **kwargs)


def computed_step_probe(module: torch.nn.Module) -> ComputedStepProbe:
    """The module's probe (a torch.compile wrapper is looked through), installed on first use."""
    inner = unwrap_module(module)
    probe = inner.__dict__.get("_computed_step_probe")
    if probe is None:
        probe = ComputedStepProbe(inner)
        inner.__dict__["_computed_step_probe"] = probe  # plain attribute: not a submodule, not in the state dict
    return probe


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux: VmHWM via /proc/self/clear_refs); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


class PeakMemory:
    """Peak memory during a block: CUDA allocator peak on a GPU, process peak RSS on a CPU.

    On Linux the kernel keeps the peak (VmHWM), reset at the start of the block: exact and free. Elsewhere a
    thread samples RSS every 20 ms (a faster sampler measurably slowed the run it measured).

    Example:
        with PeakMemory(device) as peak: run()
        peak.bytes
    """

    def __init__(self, device: torch.device, interval_s: float = 0.02):
        self.device, self.interval_s, self.bytes = device, interval_s, 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif not _reset_peak_rss():
            self.bytes = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval_s):
            self.bytes = max(self.bytes, _rss_bytes())

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.bytes = torch.cuda.max_memory_allocated(self.device)
        elif self._thread is None:
            self.bytes = _peak_rss_bytes()
        else:
            self._stop.set()
            self._thread.join()
            self.bytes = max(self.bytes, _rss_bytes())
        return False


class StepClock:
    """Timestamps of denoising: first denoiser call and each step's end (fed by callback_on_step_end)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.first_call: float | None = None
        self.step_ends: list[float] = []

    def on_denoiser_call(self, *_):
        if self.first_call is None:
            synchronize(self.device)
            self.first_call = time.perf_counter()

    def on_step_end(self):
        synchronize(self.device)
        self.step_ends.append(time.perf_counter())

    def per_step_s(self) -> list[float]:
        if self.first_call is None or not self.step_ends:
            return []
        marks = [self.first_call] + self.step_ends
        return [b - a for a, b in zip(marks, marks[1:], strict=False)]
