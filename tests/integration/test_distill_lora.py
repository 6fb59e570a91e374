"""LoRA step-distillation of real diffusers pipelines, on tiny random FLUX/Wan pipelines on the CPU: the file is
diffusers' LoRA format, training lowers the loss, the engine's "lora" weights source loads it, resume, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from studio.cli import main
from studio.distill.lora import record_teacher_pair
from studio.engine.request import RunRequest
from studio.engine.runner import Engine
from studio.usage import DistillUsageError
from studio.variant import Variant, WeightsSpec

PROMPT = "a photo of a red cat"
# 8 pairs of one prompt (seeds 0-7): enough to check that the student learns its pairs in 120 steps; it does not
# generalise to other seeds from so few pairs (real runs use hundreds, see the README).
TRAIN = ["--pairs", "8", "--batch", "4", "--lora-rank", "16", "--lr", "3e-2", "--train-steps", "120", "--threads", "1"]


def _distill(folder, preset="tiny-flux-test", extra=(), name="out"):
    return main(["distill", "--preset", preset, *TRAIN, *extra, "--workdir", str(folder / f"work-{name}"),
                 "--out", str(folder / name)])


def _losses(path) -> list[float]:
    return [float(line.split(",")[1]) for line in path.read_text().splitlines()[1:]]


@pytest.fixture(scope="module")
def flux_student(tiny_presets, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lora-student")
    (folder / "prompts.txt").write_text(PROMPT + "\n")
    assert _distill(folder, extra=["--prompts", str(folder / "prompts.txt")]) == 0
    return folder


def test_lora_is_saved_in_diffusers_format_and_training_lowers_the_loss(flux_student):
    out = flux_student / "out"
    with safe_open(out / "pytorch_lora_weights.safetensors", "pt") as f:
        keys = list(f.keys())
        metadata = json.loads(f.metadata()["lora_adapter_metadata"])
    assert keys and all(k.startswith("transformer.") for k in keys)
    assert any(".attn.to_q.lora_A." in k for k in keys) and any(".attn.add_k_proj.lora_B." in k for k in keys)
    assert metadata["transformer.r"] == 16 and metadata["transformer.lora_alpha"] == 16
    info = json.loads((out / "distill.json").read_text())
    assert info["pipeline"] == "FluxPipeline" and info["timestep_scale"] == 1.0
    assert info["trained_for_steps"] == [1, 2, 4]
    assert info["sigmas"][0] == 1.0 and len(info["sigmas"]) == 4  # 1-, 2- and 4-step levels, shifted (not 0.75/0.5)
    assert info["teacher_calls_per_step"] == 1 and info["run_with_guidance"] == 3.5  # FLUX embeds its guidance
    assert len(_losses(out / "loss.csv")) == 120
    # the same pairs at the same levels, before (LoRA B = 0: the base model) and after training
    assert info["fit_loss_after"] < 0.5 * info["fit_loss_before"], info


def test_engine_loads_the_lora_its_4_steps_land_closer_to_the_teacher_and_it_is_off_for_others(tiny_presets,
                                                                                                   flux_student):
    engine = Engine(tiny_presets["tiny-flux-test"], device=torch.device("cpu"))
    teacher, naive = Variant("baseline"), Variant("naive4", steps=4)
    student = Variant("lora4", weights=WeightsSpec("lora", str(flux_student / "out")), steps=4)
    naive_error, student_error = [], []
    for seed in range(4):  # seeds of training pairs: the engine draws the same noise the teacher pairs started from
        request = RunRequest(PROMPT, seed=seed, warmup=False)
        before, with_lora, after, target = (engine.run_variant(v, request) for v in (naive, student, naive, teacher))
        for r in (before, with_lora, after, target):
            assert r.error is None, r.error
        np.testing.assert_allclose(after.output, before.output, atol=1e-6)  # off for every other variant
        naive_error.append(((before.output - target.output) ** 2).mean())
        student_error.append(((with_lora.output - target.output) ** 2).mean())
    assert "studio_distilled" in engine.base_pipeline().get_list_adapters()["transformer"]
    assert np.mean(student_error) < 0.85 * np.mean(naive_error), (student_error, naive_error)


def test_two_named_loras_on_one_denoiser_each_run_as_they_do_alone(tiny_presets, flux_student):
    """A preset's `lora` and a second named LoRA weights (here the same file at half scale) share the denoiser:
    each variant switches on only its own adapter."""
    full = WeightsSpec("lora", str(flux_student / "out"))
    half = WeightsSpec("lora", str(flux_student / "out"), lora_scale=0.5, name="lora2")
    variants = [Variant("full", weights=full, steps=4), Variant("half", weights=half, steps=4),
                Variant("naive4", steps=4)]
    request = RunRequest(PROMPT, seed=0, warmup=False)
    alone = {v.name: Engine(tiny_presets["tiny-flux-test"], device=torch.device("cpu")).run_variant(v, request).output
             for v in variants}
    shared = Engine(tiny_presets["tiny-flux-test"], device=torch.device("cpu"))
    for v in [*variants, *variants]:  # each one after each other one
        np.testing.assert_allclose(shared.run_variant(v, request).output, alone[v.name], atol=1e-6)
    assert not np.allclose(alone["full"], alone["half"])  # the scales differ, so both adapters really ran
    adapters = shared.base_pipeline().get_list_adapters()["transformer"]
    assert {"studio_distilled", "studio_distilled_lora2"} <= set(adapters)


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(flux_student, monkeypatch, capsys):
    import studio.distill.lora as lora

    real, calls = lora.velocity_loss, []

    def crash_at_step_25(*args, **kwargs):
        calls.append(1)
        if len(calls) == 26:
            raise KeyboardInterrupt  # as if the process were stopped mid-run
        return real(*args, **kwargs)

    monkeypatch.setattr(lora, "velocity_loss", crash_at_step_25)
    again = ["--prompts", str(flux_student / "prompts.txt"), "--checkpoint-every", "10"]
    with pytest.raises(KeyboardInterrupt):
        _distill(flux_student, extra=again, name="resumed")
    monkeypatch.setattr(lora, "velocity_loss", real)
    capsys.readouterr()
    assert _distill(flux_student, extra=again, name="resumed") == 0
    err = capsys.readouterr().err
    assert "8 teacher pairs ready" in err and "at step 20" in err
    # a fresh workdir (pairs and LoRA made again from the seed) and a resume: the same loss curve
    assert _losses(flux_student / "resumed" / "loss.csv") == pytest.approx(
        _losses(flux_student / "out" / "loss.csv"), rel=1e-4)


def test_wan_distils_its_guided_trajectory_into_a_guidance_free_student(tiny_presets, tmp_path):
    assert _distill(tmp_path, "tiny-wan-test", ["--pairs", "2", "--train-steps", "2"]) == 0
    info = json.loads((tmp_path / "out" / "distill.json").read_text())
    assert info["pipeline"] == "WanPipeline" and info["timestep_scale"] == 1000.0
    assert info["teacher_calls_per_step"] == 2 and info["run_with_guidance"] == 1.0  # two CFG calls a step
    engine = Engine(tiny_presets["tiny-wan-test"], device=torch.device("cpu"))
    result = engine.run_variant(Variant("lora", weights=WeightsSpec("lora", str(tmp_path / "out")), steps=4,
                                        guidance=1.0), RunRequest("a red car", seed=0, warmup=False))
    assert result.error is None and result.output.shape == (5, 16, 16, 3)


@pytest.mark.parametrize("extra, message", [
    (["--lora-rank", "0"], "--lora-rank must be from 1 to 1024"),
    (["--preset", "no-such-model"], "unknown preset 'no-such-model'"),
    (["--preset", "tiny-image"], "--lora-rank applies to real-model presets"),
    (["--preset", "tiny-sdxl-test"], "has no transformer (a UNet pipeline)"),
    (["--prompts", "missing.txt"], "--prompts: prompts file 'missing.txt' does not exist"),
    (["--ema-decay", "1"], "--ema-decay must be in [0, 1)"),
])
def test_usage_errors_exit_2_with_one_line(tiny_presets, tmp_path, capsys, extra, message):
    assert _distill(tmp_path, extra=extra) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a CUDA GPU")
def test_hub_preset_without_a_gpu_is_refused_before_anything_is_written(tmp_path, capsys):
    assert _distill(tmp_path, "flux1-dev") == 2
    err = capsys.readouterr().err.strip()
    assert "LoRA distillation needs a CUDA GPU" in err and "40 GB" in err and "\n" not in err
    assert not (tmp_path / "work-out").exists()


class _Echo(torch.nn.Module):
    def forward(self, hidden_states, timestep):
        return (hidden_states,)


class _BatchedGuidancePipeline:
    """Calls its transformer once per step with [negative, positive] in one batch, as SD3, LTX and Sana do."""

    def __init__(self):
        from diffusers import FlowMatchEulerDiscreteScheduler

        self.transformer = _Echo()
        self.scheduler = FlowMatchEulerDiscreteScheduler()

    def __call__(self, num_inference_steps, output_type, callback_on_step_end, return_dict):
        self.scheduler.set_timesteps(num_inference_steps)
        latents = torch.randn(1, 4, 8)
        for t in self.scheduler.timesteps:
            self.transformer(hidden_states=torch.cat([latents] * 2), timestep=t.expand(2))
            callback_on_step_end(self, 0, t, {"latents": latents})
        return (latents,)


def test_batched_classifier_free_guidance_is_refused_naming_what_is_supported():
    with pytest.raises(DistillUsageError, match=r"batch of 2 for one prompt .*supports FluxPipeline"):
        record_teacher_pair(_BatchedGuidancePipeline(), {"num_inference_steps": 2}, 2)
