"""The embedded presets decode in bfloat16 only on CPUs that compute it natively, and only when asked."""

import pytest
import torch

from studio.config import ConfigError
from studio.engine.cpu_precision import apply_cpu_decoder_precision, cpu_has_native_bf16, decoder_dtype

AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n"
AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n"
PLAIN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n"


def _cpuinfo(tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, native", [(AMX, True), (AVX512_BF16, True), (PLAIN, False), ("", False)])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, text, native):
    assert cpu_has_native_bf16(_cpuinfo(tmp_path, text), environ={}) is native


def test_a_missing_cpuinfo_means_float32(tmp_path):
    assert cpu_has_native_bf16(tmp_path / "absent", environ={}) is False


@pytest.mark.parametrize("value, native", [("1", True), ("on", True), ("0", False), ("no", False)])
def test_the_override_wins_over_the_flags(tmp_path, value, native):
    flags = _cpuinfo(tmp_path, PLAIN if native else AMX)
    assert cpu_has_native_bf16(flags, environ={"STUDIO_CPU_BF16": value}) is native


def test_a_bad_override_names_the_allowed_values(tmp_path):
    with pytest.raises(ConfigError, match="STUDIO_CPU_BF16='maybe' is not a yes/no value; use 1/true/yes/on"):
        cpu_has_native_bf16(_cpuinfo(tmp_path, AMX), environ={"STUDIO_CPU_BF16": "maybe"})


def test_bfloat16_only_where_wanted_and_only_on_a_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    on = {"STUDIO_CPU_BF16": "1"}
    assert decoder_dtype("bfloat16", cpu, on) is torch.bfloat16
    assert decoder_dtype("bfloat16", cpu, {"STUDIO_CPU_BF16": "0"}) is None
    assert decoder_dtype("float32", cpu, on) is None
    assert decoder_dtype("bfloat16", cuda, on) is None  # accelerators keep the preset's dtype


def test_the_decoder_moves_to_bfloat16_channels_last():
    class Pipe:
        def __init__(self):
            self.vae = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3))

    pipe = Pipe()
    assert apply_cpu_decoder_precision(pipe, "bfloat16", torch.device("cpu"), {"STUDIO_CPU_BF16": "1"}) == "bfloat16"
    weight = pipe.vae[0].weight
    assert weight.dtype is torch.bfloat16 and weight.is_contiguous(memory_format=torch.channels_last)
    kept = Pipe()
    assert apply_cpu_decoder_precision(kept, "bfloat16", torch.device("cpu"), {"STUDIO_CPU_BF16": "0"}) == "float32"
    assert apply_cpu_decoder_precision(type("NoVae", (), {"vae": None})(), "bfloat16", torch.device("cpu")) is None
