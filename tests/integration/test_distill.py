"""The distill command on the embedded image model, at toy sizes: output, loading, reproducibility, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from studio.cli import main
from studio.metrics import lpips_status
from studio.presets import load_preset
from studio.variant import Variant, WeightsSpec

needs_lpips = pytest.mark.skipif(not lpips_status()[0], reason="LPIPS weights not prepared: studio.metrics.prepare")
TOY = ["--preset", "tiny-image", "--pairs", "8", "--teacher-steps", "2", "--batch", "4", "--threads", "1"]


def _distill(tmp_path, name: str, train_steps: int, workdir=None) -> int:
    workdir = workdir or tmp_path / f"work-{name}"
    return main(["distill", *TOY, "--train-steps", str(train_steps), "--workdir", str(workdir),
                 "--out", str(tmp_path / name)])


def _losses(folder) -> list[float]:
    return [float(line.split(",")[1]) for line in (folder / "loss.csv").read_text().splitlines()[1:]]


def test_student_is_saved_trained_and_loadable_by_the_engine(tmp_path):
    from studio.engine.request import RunRequest
    from studio.engine.runner import Engine

    assert _distill(tmp_path, "student", 3) == 0
    out = tmp_path / "student"
    info = json.loads((out / "distill.json").read_text())
    assert info["student_steps"] == 4 and info["trained_for_steps"] == [1, 2, 4]
    assert len(_losses(out)) == 3

    preset = load_preset("tiny-image")
    engine = Engine(preset)
    base = engine.pipeline_for(preset.variant("baseline")).transformer
    variant = Variant("student", weights=WeightsSpec("student", str(out)), steps=4)
    student = engine.pipeline_for(variant).transformer
    changed = [n for (n, a), (_, b) in zip(base.named_parameters(), student.named_parameters(), strict=True)
               if not torch.equal(a.float(), b.float())]
    assert changed, "the student's weights should differ from the teacher's after training"
    result = engine.run_variant(variant, RunRequest("a red circle at the left", seed=1))
    assert result.error is None and result.output.shape == (64, 64, 3)


def test_same_seed_same_loss_curve(tmp_path):
    assert _distill(tmp_path, "a", 3) == 0
    assert _distill(tmp_path, "b", 3) == 0
    assert _losses(tmp_path / "a") == pytest.approx(_losses(tmp_path / "b"), rel=1e-4)


@pytest.mark.parametrize("extra, message", [
    (["--preset", "flux1-dev"], "needs a CUDA GPU"),
    (["--student-steps", "0"], "from 1 to 16"),
    (["--also-steps", "x"], "comma list"),
    (["--pairs", "0"], "--pairs"),
    (["--rollout", "1.5"], "--rollout must be in [0, 1]"),
    (["--preset", "flux1-dev", "--rollout", "0.5"], "--rollout applies to embedded presets"),
    (["--preset", "flux1-dev", "--schedule", "uniform"], "--schedule applies to embedded presets"),
    (["--schedule", "cosine"], "invalid choice: 'cosine'"),
    (["--perceptual", "-1"], "--perceptual must be in [0, 100]"),
    (["--preset", "flux1-dev", "--perceptual", "1"], "--perceptual applies to embedded presets"),
    (["--prompts", "missing.txt"], "does not exist or is not a file"),
    (["--adversarial", "11"], "--adversarial must be in [0, 10]"),
    (["--critic", "teacher"], "give a weight with --adversarial W too"),
    (["--dmd", "-1"], "--dmd must be in [0, 10]"),
    (["--dmd", "1", "--adversarial", "0.1"], "give one or the other"),
    (["--dmd", "1", "--targets", "trajectory", "--schedule", "uniform", "--also-steps", ""],
     "does not combine with --adherent-only, --perceptual, --adversarial or --dmd"),
    (["--preset", "flux1-dev", "--dmd", "1"], "--dmd, --init-student"),
    (["--preset", "flux1-dev", "--critic", "teacher"], "--adversarial, --critic, --dmd, --init-student"),
    (["--adversarial", "0.1", "--critic", "pixels"], "invalid choice: 'pixels'"),
    (["--preset", "flux1-dev", "--adversarial", "0.1"], "apply to embedded presets"),
    (["--init-student", "assets"], "is not a saved student"),
    (["--init-student", "assets/tiny-video-student"], "another architecture"),
    (["--deeper", "-1"], "--deeper must be from 0 to 32"),
    (["--deeper", "2", "--init-student", "assets/tiny-image-student"], "give one or the other"),
    (["--preset", "flux1-dev", "--deeper", "2"], "apply to embedded presets"),
    (["--preset", "flux1-dev", "--adherent-only"], "apply to embedded presets"),
    (["--rescue-guidance", "3"], "give both"),
    (["--adherent-only", "--rescue-guidance", "3,x"], "comma list of numbers"),
    (["--adherent-only", "--rescue-guidance", "0.5"], "from 1 (no guidance) to 30"),
    (["--targets", "trajectory", "--also-steps", "1,2"], "trains one step count"),
    (["--targets", "trajectory", "--adherent-only"], "does not combine"),
    (["--targets", "pixels"], "invalid choice: 'pixels'"),
    (["--preset", "flux1-dev", "--targets", "trajectory"], "--targets trajectory applies to embedded presets"),
    (["--teacher-guidance", "0.5"], "--teacher-guidance must be from 1 (no guidance) to 30"),
    (["--preset", "flux1-dev", "--teacher-guidance", "6"], "--teacher-guidance applies to embedded presets"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, extra, message):
    args = ["distill", *TOY, "--train-steps", "1", "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "o")]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_prompt_file_lines_are_checked_against_the_language(tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle at the left\na purple dragon\n")
    args = ["distill", *TOY, "--train-steps", "1", "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "o"),
            "--prompts", str(prompts)]
    assert main(args) == 2
    assert "prompts.txt line 2" in capsys.readouterr().err


def test_a_prompts_table_is_read_as_the_bench_reads_it(tmp_path):
    """distill --prompts takes the bench's file kinds (here a CSV with a header), one reader for both."""
    from studio.distill.command import read_prompt_file

    table = tmp_path / "prompts.csv"
    table.write_text('prompt,seed\n"a red circle at the left",3\na blue square,4\n')
    assert read_prompt_file(str(table), load_preset("tiny-image")) == ["a red circle at the left", "a blue square"]


def test_workdir_with_other_settings_is_refused(tmp_path, capsys):
    assert _distill(tmp_path, "first", 1, workdir=tmp_path / "shared") == 0
    args = ["distill", *TOY, "--train-steps", "2", "--workdir", str(tmp_path / "shared"), "--out", str(tmp_path / "x")]
    assert main(args) == 2
    assert "train_steps" in capsys.readouterr().err


def test_pairs_are_the_guided_teachers_samples_and_the_student_runs_unguided(tmp_path):
    """tiny-image samples with guidance 4.5: the pairs must be that guided result (not the plain conditional
    one), and the student, which learned it, runs with guidance 1 (one transformer call a step)."""
    from studio.distill.reflow import _chunk_prompts
    from studio.engine.loading import load_base_pipeline
    from studio.tiny.language import format_prompt

    preset = load_preset("tiny-image")
    assert preset.guidance == 4.5 and preset.variant("distilled").guidance == 1.0
    assert _distill(tmp_path, "student", 1) == 0
    info = json.loads((tmp_path / "student" / "distill.json").read_text())
    assert info["teacher_guidance"] == 4.5 and info["run_with_guidance"] == 1.0
    (folder,) = (tmp_path / "work-student").glob("pairs-*")
    assert folder.name.endswith("-g4.5")
    chunk = torch.load(folder / "chunk-00000.pt", weights_only=True)
    teacher = load_base_pipeline(preset, torch.device("cpu"))
    prompts = [format_prompt(s) for s in _chunk_prompts(0, 0, 8, False, None)]

    def sample(guidance):
        return teacher(prompts, num_inference_steps=2, latents=chunk["noise"].float(), guidance_scale=guidance,
                       output_type="latent", return_dict=False)[0].half().float()

    guided, plain = sample(4.5), sample(1.0)
    stored = chunk["x0"].float()
    assert (guided - stored).abs().mean() < 1e-3  # float16 storage rounding only
    assert (plain - stored).abs().mean() > 0.05

    # --teacher-guidance: the same noise drawn at another scale, kept apart from the baseline's pairs and recorded
    assert main(["distill", *TOY, "--train-steps", "1", "--teacher-guidance", "8", "--workdir",
                 str(tmp_path / "work-g8"), "--out", str(tmp_path / "g8")]) == 0
    assert json.loads((tmp_path / "g8" / "distill.json").read_text())["teacher_guidance"] == 8.0
    (folder8,) = (tmp_path / "work-g8").glob("pairs-*")
    assert folder8.name.endswith("-g8")
    chunk8 = torch.load(folder8 / "chunk-00000.pt", weights_only=True)
    assert torch.equal(chunk8["noise"], chunk["noise"])
    assert (sample(8.0) - chunk8["x0"].float()).abs().mean() < 1e-3
    assert (guided - chunk8["x0"].float()).abs().mean() > 0.05


@pytest.mark.parametrize("schedule", [None, "uniform"])
def test_rollout_inputs_are_where_the_students_own_sampler_stands(schedule):
    """--rollout trains on the student's own sampler states: they must be exactly the latents the pipeline holds
    before each of its 4 steps from the same noise (else the student learns to fix states it never meets), with
    the scheduler's default levels and with a schedule's."""
    from studio.distill.reflow import student_rollout, student_sigmas
    from studio.engine.loading import load_base_pipeline
    from studio.schedule import schedule_sigmas

    pipe = load_base_pipeline(load_preset("tiny-image"), torch.device("cpu"))
    prompts = ["a small red circle at the top left", "a large blue square at the bottom"]
    noise = torch.randn((2, *pipe.latent_shape(64, 64, 1)), generator=torch.Generator().manual_seed(3))
    seen = []

    def keep(_pipe, _i, _t, tensors):
        seen.append(tensors["latents"].clone())
        return tensors

    pipe(prompts, num_inference_steps=4, latents=noise, guidance_scale=1.0, output_type="latent",
         callback_on_step_end=keep, sigmas=schedule_sigmas(schedule, 4))
    trajectory = student_sigmas(pipe, [4], schedule)
    assert trajectory == ([1.0, 0.75, 0.5, 0.25] if schedule else [1.0, 0.667, 0.334, 0.001])
    tokens, pooled = pipe.encode_prompt(prompts)
    for k in (1, 2, 3):  # the state entering step k+1 is the latents after step k
        level = torch.full((2,), trajectory[k])
        state = student_rollout(pipe.transformer, noise, level, tokens, pooled, trajectory)
        assert torch.allclose(state, seen[k - 1], atol=1e-4), f"level {trajectory[k]}"
    at_start = student_rollout(pipe.transformer, noise, torch.full((2,), 1.0), tokens, pooled, trajectory)
    assert torch.equal(at_start, noise)


def test_rollout_changes_training_and_is_recorded(tmp_path):
    assert main(["distill", *TOY, "--train-steps", "3", "--rollout", "1", "--workdir", str(tmp_path / "w"),
                 "--out", str(tmp_path / "rolled")]) == 0
    assert _distill(tmp_path, "plain", 3) == 0
    assert json.loads((tmp_path / "rolled" / "distill.json").read_text())["rollout"] == 1.0
    assert _losses(tmp_path / "rolled") != pytest.approx(_losses(tmp_path / "plain"), rel=1e-4)


@needs_lpips
def test_perceptual_term_is_lpips_between_decoded_pictures_and_trains_the_student():
    """--perceptual adds weight x LPIPS(decode(prediction), decode(teacher sample)): zero for a perfect prediction,
    larger for a worse one, and its gradient reaches the student's prediction."""
    from studio.distill.perceptual import LatentLpips
    from studio.engine.loading import load_base_pipeline

    pipe = load_base_pipeline(load_preset("tiny-image"), torch.device("cpu"))
    term = LatentLpips(pipe, weight=2.0)
    with torch.no_grad():  # red fields
        target = pipe.encode_pixels(torch.zeros(2, 3, 64, 64).index_fill_(1, torch.tensor([0]), 0.8))
    near, far = target + 0.05 * torch.randn_like(target), torch.randn_like(target)
    assert term(target, target).item() == pytest.approx(0.0, abs=1e-6)
    assert 0 < term(near, target).item() < term(far, target).item()
    single = LatentLpips(pipe, weight=1.0)
    assert term(far, target).item() == pytest.approx(2 * single(far, target).item(), rel=1e-5)
    guess = near.clone().requires_grad_(True)
    term(guess, target).backward()
    assert guess.grad.abs().sum() > 0


@needs_lpips
def test_perceptual_term_on_clips_compares_their_first_and_last_frames():
    from studio.distill.perceptual import LatentLpips
    from studio.engine.loading import load_base_pipeline

    pipe = load_base_pipeline(load_preset("tiny-video"), torch.device("cpu"))
    term = LatentLpips(pipe, weight=1.0)
    clip = torch.randn(2, *pipe.latent_shape(64, 64, 8))
    middle_changed = clip.clone()
    middle_changed[:, :, 1:-1] = torch.randn_like(middle_changed[:, :, 1:-1])
    last_changed = clip.clone()
    last_changed[:, :, -1] = torch.randn_like(last_changed[:, :, -1])
    assert term(middle_changed, clip).item() == pytest.approx(0.0, abs=1e-6)
    assert term(last_changed, clip).item() > 0.01


@needs_lpips
def test_perceptual_changes_training_and_is_recorded(tmp_path):
    assert main(["distill", *TOY, "--train-steps", "3", "--perceptual", "1", "--workdir", str(tmp_path / "w"),
                 "--out", str(tmp_path / "lp")]) == 0
    assert _distill(tmp_path, "plain", 3) == 0
    assert json.loads((tmp_path / "lp" / "distill.json").read_text())["perceptual"] == 1.0
    assert json.loads((tmp_path / "w" / "settings.json").read_text())["perceptual"] == 1.0
    assert _losses(tmp_path / "lp") != pytest.approx(_losses(tmp_path / "plain"), rel=1e-4)


def test_critic_trains_on_its_own_loss_and_the_student_on_the_generator_term():
    """--adversarial: the critic's gradient comes from its hinge loss alone (telling teacher samples from the
    student's predictions), the student's from the term that rewards fooling it; scaled by the weight."""
    from studio.distill.adversarial import AdversarialTerm, critic_for

    torch.manual_seed(0)
    critic = critic_for((8, 16, 16), pooled_dim=64).eval()  # eval: spectral norm's power iteration holds still
    clip_critic = critic_for((8, 8, 16, 16), pooled_dim=64)
    assert clip_critic(torch.randn(2, 8, 8, 16, 16), None, torch.randn(2, 64)).shape == (2,)
    real, pooled = torch.randn(4, 8, 16, 16), torch.randn(4, 64)
    fake = torch.randn(4, 8, 16, 16, requires_grad=True)

    def grads(weight: float):
        critic.zero_grad(set_to_none=True)
        fake.grad = None
        AdversarialTerm(critic, weight)(fake, real, None, pooled).backward()
        return [p.grad.clone() for p in critic.parameters()], fake.grad.clone()

    critic_grads, student_grad = grads(1.0)
    critic_grads_heavy, student_grad_heavy = grads(3.0)
    for a, b in zip(critic_grads, critic_grads_heavy, strict=True):  # the weight never reaches the critic
        assert torch.allclose(a, b)
    assert student_grad.abs().sum() > 0
    # float32 rounding differs by CPU kernel (2e-8 seen on gradients of ~1e-3); a wrong scaling would be ~1e-3 off
    assert torch.allclose(student_grad_heavy, 3 * student_grad, rtol=1e-4, atol=1e-6)
    assert all(p.requires_grad for p in critic.parameters())

    # the critic's own loss: a step down its gradient scores the teacher's samples higher, the student's lower
    with torch.no_grad():
        before = critic(real, None, pooled).mean() - critic(fake, None, pooled).mean()
        for p, g in zip(critic.parameters(), critic_grads, strict=True):
            p -= 0.05 * g
        assert critic(real, None, pooled).mean() - critic(fake, None, pooled).mean() > before


def test_teacher_critic_reads_both_samples_with_the_frozen_teacher_and_trains_only_its_heads():
    """--critic teacher (LADD): heads on the teacher's blocks; the teacher stays frozen and out of the critic's
    parameters and state; the critic's gradient comes from its own loss, the student's through the teacher."""
    from studio.distill.adversarial import AdversarialTerm, TeacherCritic, critic_for
    from studio.tiny.model import build_pipeline

    torch.manual_seed(0)
    pipe = build_pipeline("image")
    teacher = pipe.transformer
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    critic = critic_for((8, 16, 16), pooled_dim=64, kind="teacher", teacher=teacher).eval()
    assert isinstance(critic, TeacherCritic) and len(critic.heads) == 6  # 2 double + 4 single blocks
    assert not any(k.startswith("_teacher") or "transformer_blocks" in k for k in critic.state_dict())
    from studio.tiny.language import parse_prompt
    from studio.tiny.text_encoder import objects_to_ids

    prompts = ["a red circle at the left", "a blue square", "a green triangle at the top"]
    tokens, pooled = pipe.text_encoder(objects_to_ids([parse_prompt(x) for x in prompts]))
    real = torch.randn(3, 8, 16, 16)
    fake = torch.randn(3, 8, 16, 16, requires_grad=True)
    term = AdversarialTerm(critic, 2.0)
    term(fake, real, tokens, pooled, torch.Generator().manual_seed(1)).backward()
    assert fake.grad.abs().sum() > 0  # the generator term reaches the student through the teacher
    assert all(p.grad is None for p in teacher.parameters())  # frozen: never trained
    assert all(p.requires_grad for p in critic.parameters())
    critic_grads = [p.grad.clone() for p in critic.parameters()]
    assert all(sum(float(q.grad.abs().sum()) for q in head.parameters()) > 0 for head in critic.heads)
    # the same draw scores the same: both samples are read at one level and noise, fixed by the generator
    same = [critic(real, tokens, pooled, torch.Generator().manual_seed(1)) for _ in range(2)]
    assert torch.equal(*same)
    with torch.no_grad():  # the heads' own loss: a step down it separates the teacher's samples from the student's
        def gap():
            g = torch.Generator().manual_seed(1)
            return (critic(real, tokens, pooled, g).mean()
                    - critic(fake, tokens, pooled, torch.Generator().manual_seed(1)).mean())
        before = gap()
        for p, g in zip(critic.parameters(), critic_grads, strict=True):
            p -= 0.05 * g
        assert gap() > before
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in teacher_before.items())
    with pytest.raises(ValueError, match="known: latent, teacher"):
        critic_for((8, 16, 16), 64, kind="pixels")


def test_teacher_critic_through_the_command_is_recorded_changes_training_and_saves_the_student(tmp_path):
    args = ["distill", *TOY, "--train-steps", "3", "--adversarial", "0.5", "--critic", "teacher",
            "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "ladd")]
    assert main(args) == 0
    assert json.loads((tmp_path / "ladd" / "distill.json").read_text())["critic"] == "teacher"
    assert json.loads((tmp_path / "w" / "settings.json").read_text())["critic"] == "teacher"
    saved = json.loads((tmp_path / "ladd" / "transformer" / "config.json").read_text())
    assert saved["_class_name"] == "FluxTransformer2DModel"  # the student alone, not the heads
    latent = ["distill", *TOY, "--train-steps", "3", "--adversarial", "0.5", "--workdir", str(tmp_path / "w2"),
              "--out", str(tmp_path / "latent")]
    assert main(latent) == 0
    assert _losses(tmp_path / "ladd") != pytest.approx(_losses(tmp_path / "latent"), rel=1e-4)
    # the workdir was claimed for the teacher critic: resuming it with the other critic is refused
    assert main(["distill", *TOY, "--train-steps", "3", "--adversarial", "0.5", "--workdir", str(tmp_path / "w"),
                 "--out", str(tmp_path / "x")]) == 2


def test_distribution_matching_moves_the_student_against_real_minus_fake_and_trains_the_fake_score():
    """--dmd: the student's gradient is (fake - real) / scale per element (the guided teacher against the copy that
    learns the student), scaled by the weight; the fake score learns from its own denoising loss; the teacher stays."""
    from studio.distill.dmd import DistributionMatchingTerm
    from studio.tiny.language import parse_prompt
    from studio.tiny.model import build_pipeline
    from studio.tiny.pipeline import predict_x0
    from studio.tiny.text_encoder import objects_to_ids

    torch.manual_seed(0)
    pipe = build_pipeline("image")
    tokens, pooled = pipe.text_encoder(objects_to_ids([parse_prompt(x) for x in ["a red circle", "a blue square"]]))
    tokens, pooled = tokens.detach(), pooled.detach()
    term = DistributionMatchingTerm(pipe.transformer, pipe.text_encoder, 1.0, guidance=3.0)
    teacher_before = {k: v.clone() for k, v in pipe.transformer.state_dict().items()}
    with torch.no_grad():  # a fake score that differs from the teacher, as it does once it has learned the student
        for q in term.fake.parameters():
            q.add_(0.01 * torch.randn_like(q))
    sample = torch.randn(2, 8, 16, 16)

    def student_grad(weight):
        term.weight = weight
        x0_hat = sample.clone().requires_grad_(True)
        term(x0_hat, sample, tokens, pooled, torch.Generator().manual_seed(5)).backward()
        return x0_hat.grad

    grad = student_grad(1.0)
    # what the term should push along, recomputed from its definition with the same draw
    gen = torch.Generator().manual_seed(5)
    noise, sigma = torch.randn(sample.shape, generator=gen), 0.02 + 0.96 * torch.rand(2, generator=gen)
    noisy = (1 - sigma.view(-1, 1, 1, 1)) * sample + sigma.view(-1, 1, 1, 1) * noise
    with torch.no_grad():
        empty_tokens, empty_pooled = pipe.text_encoder(torch.zeros(1, tokens.shape[1], 5, dtype=torch.long))
        cond = predict_x0(pipe.transformer, noisy, sigma, tokens, pooled)
        uncond = predict_x0(pipe.transformer, noisy, sigma, empty_tokens.expand_as(tokens),
                            empty_pooled.expand_as(pooled))
        real = uncond + 3.0 * (cond - uncond)
        fake = predict_x0(term.fake, noisy, sigma, tokens, pooled)
        scale = (sample - real).abs().flatten(1).mean(1).view(-1, 1, 1, 1)
    expected = (fake - real) / scale / sample.numel()
    torch.testing.assert_close(grad, expected, rtol=1e-3, atol=1e-9)
    torch.testing.assert_close(student_grad(2.5), 2.5 * grad, rtol=1e-4, atol=1e-9)
    assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in term.fake.parameters() if q.dim() > 1)
    assert all(torch.equal(v, pipe.transformer.state_dict()[k]) for k, v in teacher_before.items())
    assert all(q.grad is None for q in pipe.transformer.parameters())


def test_distribution_matching_through_the_command_is_recorded_and_saves_the_student(tmp_path):
    args = ["distill", *TOY, "--train-steps", "3", "--dmd", "1", "--workdir", str(tmp_path / "w"),
            "--out", str(tmp_path / "dmd")]
    assert main(args) == 0
    assert json.loads((tmp_path / "dmd" / "distill.json").read_text())["dmd"] == 1.0
    assert json.loads((tmp_path / "w" / "settings.json").read_text())["dmd"] == 1.0
    saved = json.loads((tmp_path / "dmd" / "transformer" / "config.json").read_text())
    assert saved["_class_name"] == "FluxTransformer2DModel"
    assert _distill(tmp_path, "plain", 3) == 0
    assert _losses(tmp_path / "dmd") != pytest.approx(_losses(tmp_path / "plain"), rel=1e-4)


def test_adversarial_fine_tune_of_a_saved_student_is_recorded_and_saves_the_student(tmp_path):
    assert _distill(tmp_path, "plain", 2) == 0
    args = ["distill", *TOY, "--train-steps", "2", "--adversarial", "0.5", "--init-student",
            str(tmp_path / "plain"), "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "adv")]
    assert main(args) == 0
    info = json.loads((tmp_path / "adv" / "distill.json").read_text())
    assert info["adversarial"] == 0.5 and info["init_student"] == str(tmp_path / "plain")
    settings = json.loads((tmp_path / "w" / "settings.json").read_text())
    assert settings["adversarial"] == 0.5 and settings["init_student"].startswith("sha256:")
    saved = json.loads((tmp_path / "adv" / "transformer" / "config.json").read_text())
    assert saved["_class_name"] == "FluxTransformer2DModel"  # the student alone, not the critic
    assert "_name_or_path" not in saved  # no path of the machine it was trained on
    # started from the saved student: the first loss differs from the teacher-initialised run's on the same batch
    # (same seed), which it would equal were --init-student ignored
    again = ["distill", *TOY, "--train-steps", "1", "--init-student", str(tmp_path / "plain"), "--workdir",
             str(tmp_path / "w2"), "--out", str(tmp_path / "again")]
    assert main(again) == 0
    assert _losses(tmp_path / "again")[0] != pytest.approx(_losses(tmp_path / "plain")[0], rel=1e-6)


def test_a_deeper_student_starts_as_the_teacher_and_loads_in_the_engine(tmp_path):
    """--deeper 3: the saved student has 3 more single blocks; its first loss is the plain student's (both start as
    the teacher, on the same seed's batch), and the engine runs it as a preset's student."""
    from studio.engine.request import RunRequest
    from studio.engine.runner import Engine

    assert _distill(tmp_path, "plain", 1) == 0
    args = ["distill", *TOY, "--train-steps", "2", "--deeper", "3", "--workdir", str(tmp_path / "w"),
            "--out", str(tmp_path / "deep")]
    assert main(args) == 0
    shipped = json.loads((load_preset("tiny-image").local_path() / "transformer" / "config.json").read_text())
    saved = json.loads((tmp_path / "deep" / "transformer" / "config.json").read_text())
    assert saved["num_single_layers"] == shipped["num_single_layers"] + 3
    assert json.loads((tmp_path / "deep" / "distill.json").read_text())["deeper"] == 3
    assert json.loads((tmp_path / "w" / "settings.json").read_text())["deeper"] == 3
    assert _losses(tmp_path / "deep")[0] == pytest.approx(_losses(tmp_path / "plain")[0], rel=1e-4)
    variant = Variant("deep", weights=WeightsSpec("student", str(tmp_path / "deep")), steps=4)
    result = Engine(load_preset("tiny-image")).run_variant(variant, RunRequest("a red circle at the left", seed=1))
    assert result.error is None and result.output.shape == (64, 64, 3)


@pytest.mark.parametrize("preset, prompts", [
    ("tiny-image", ["a large red circle at the top left", "a small blue square at the right and a yellow triangle"]),
    ("tiny-video", ["a large green circle at the center moving right"]),
])
def test_adherence_mask_keeps_true_renders_and_drops_wrong_prompts(preset, prompts):
    """The filter behind --adherent-only: latents of true renders (through the model's own autoencoder) pass for
    their prompt and fail for the same prompt with another shape."""
    import dataclasses
    import random

    from studio.distill.curate import adherence_mask
    from studio.distill.reflow import PairSet
    from studio.engine.loading import load_base_pipeline
    from studio.tiny.language import parse_prompt
    from studio.tiny.render import render_scene, sample_scene
    from studio.tiny.text_encoder import objects_to_ids

    pipe = load_base_pipeline(load_preset(preset), torch.device("cpu"))
    video = pipe.is_video
    rng = random.Random(0)
    specs = [parse_prompt(p, video=video) for p in prompts]
    renders = torch.stack([render_scene(sample_scene(s, rng, frames=8 if video else 1)) for s in specs])
    with torch.no_grad():
        latents = pipe.encode_pixels(renders * 2 - 1)
    other = {"circle": "square", "square": "triangle", "triangle": "circle"}
    wrong = [[dataclasses.replace(o, shape=other[o.shape]) for o in s] for s in specs]
    pairs = PairSet(torch.zeros_like(latents).repeat(2, *[1] * (latents.dim() - 1)),
                    latents.repeat(2, *[1] * (latents.dim() - 1)), objects_to_ids(specs + wrong))
    assert adherence_mask(pipe, pairs).tolist() == [True] * len(specs) + [False] * len(specs)


def test_adherent_only_refuses_when_the_checker_accepts_nothing():
    import random

    from studio.distill.curate import adherent_pairs
    from studio.distill.reflow import PairSet
    from studio.engine.loading import load_base_pipeline
    from studio.tiny.data import random_objects
    from studio.tiny.text_encoder import objects_to_ids

    pipe = load_base_pipeline(load_preset("tiny-image"), torch.device("cpu"))
    blank = torch.zeros(3, *pipe.latent_shape(64, 64, 1))  # decodes to a flat picture: no object anywhere
    ids = objects_to_ids([random_objects(random.Random(k), False) for k in range(3)])
    with pytest.raises(ValueError, match="accepts none of the teacher's samples"):
        adherent_pairs(pipe, PairSet(blank, blank, ids))


def test_adherent_only_trains_on_the_accepted_pairs_and_is_recorded(tmp_path, capsys):
    args = ["distill", "--preset", "tiny-image", "--pairs", "8", "--batch", "4", "--threads", "1", "--train-steps",
            "1", "--adherent-only", "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    info = json.loads((tmp_path / "o" / "distill.json").read_text())
    assert info["adherent_only"] is True and 1 <= info["pairs_trained_on"] < 8
    assert f"training on {info['pairs_trained_on']} of 8 pairs" in capsys.readouterr().err
    assert json.loads((tmp_path / "w" / "settings.json").read_text())["adherent_only"] is True


def test_rescue_guidance_resamples_rejected_pairs_and_is_recorded(tmp_path):
    """A 2-step teacher draws most prompts wrong: each rejected pair is re-sampled at guidance 3 and the batch saved
    in the workdir; both flags are recorded."""
    args = ["distill", *TOY, "--train-steps", "1", "--adherent-only", "--rescue-guidance", "3",
            "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    info = json.loads((tmp_path / "o" / "distill.json").read_text())
    assert info["rescue_guidance"] == [3.0] and 1 <= info["pairs_trained_on"] <= 8
    assert json.loads((tmp_path / "w" / "settings.json").read_text())["rescue_guidance"] == [3.0]
    assert (tmp_path / "w" / "rescue-g3" / "batch-00000.pt").is_file()


def test_rescue_tries_each_guidance_on_the_still_rejected_pairs_only(monkeypatch):
    """Pairs: a true render (accepted), two blank samples (rejected). Guidance 3 draws the first blank's prompt
    right; guidance 6 then gets only the other one and draws it right: all three kept, with the new samples."""
    import random

    from studio.distill import curate
    from studio.distill.reflow import PairSet
    from studio.engine.loading import load_base_pipeline
    from studio.tiny.language import parse_prompt
    from studio.tiny.render import render_scene, sample_scene
    from studio.tiny.text_encoder import objects_to_ids

    pipe = load_base_pipeline(load_preset("tiny-image"), torch.device("cpu"))
    specs = [parse_prompt(p) for p in ("a large red circle at the top left", "a large blue square at the right",
                                       "a large yellow triangle at the bottom")]
    rng = random.Random(0)
    with torch.no_grad():
        renders = pipe.encode_pixels(torch.stack([render_scene(sample_scene(s, rng)) for s in specs]) * 2 - 1)
    blank = torch.zeros_like(renders[0])
    noise = torch.randn_like(renders)
    pairs = PairSet(noise, torch.stack([renders[0], blank, blank]), objects_to_ids(specs))
    calls = []

    def fake_resample(teacher, noise_rows, ids, guidance, steps, folder):
        calls.append((guidance, noise_rows.shape[0], folder.name))
        rows = [int((noise == n).all(dim=(1, 2, 3)).nonzero()) for n in noise_rows]
        drawn = {3.0: {1}, 6.0: {2}}[guidance]
        return torch.stack([renders[r] if r in drawn else blank for r in rows])

    monkeypatch.setattr(curate, "_resample", fake_resample)
    kept = curate.adherent_pairs(pipe, pairs, (3.0, 6.0), 50, Path("unused"))
    assert calls == [(3.0, 2, "rescue-g3"), (6.0, 1, "rescue-g3-6")]
    assert len(kept) == 3 and torch.equal(kept.x0, renders)


def test_workdir_of_another_teacher_is_refused(tmp_path, capsys, monkeypatch):
    """Retraining the embedded model changes the teacher: the workdir's cached pairs were drawn by the old one."""
    from studio.distill import command

    assert _distill(tmp_path, "first", 1, workdir=tmp_path / "shared") == 0
    monkeypatch.setattr(command, "teacher_fingerprint", lambda preset: "sha256:retrained")
    assert _distill(tmp_path, "second", 1, workdir=tmp_path / "shared") == 2
    assert "teacher" in capsys.readouterr().err


def test_teacher_fingerprint_follows_the_weights_bytes(tmp_path):
    from studio.distill.command import teacher_fingerprint, weights_fingerprint

    preset = load_preset("tiny-image")
    shipped = teacher_fingerprint(preset)
    assert shipped == weights_fingerprint(preset.local_path() / "transformer") and shipped.startswith("sha256:")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    before = weights_fingerprint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"weightz")
    assert weights_fingerprint(tmp_path) != before != shipped
    assert teacher_fingerprint(load_preset("flux1-dev")).startswith("black-forest-labs/FLUX.1-dev@")


@pytest.mark.parametrize("name", ["tiny-image", "tiny-video"])
def test_shipped_student_was_distilled_from_the_shipped_teacher(name):
    """Retraining an embedded model without re-distilling would ship a student of another teacher."""
    from studio.distill.command import teacher_fingerprint

    preset = load_preset(name)
    student = preset.local_path(preset.weights["student"].ref)
    info = json.loads((student / "distill.json").read_text())
    assert info["teacher"] == teacher_fingerprint(preset)
    # it learned guided samples (the video student's were drawn at 6, its teacher runs at 4.5), so it runs unguided
    assert info["teacher_guidance"] > 1 and info["run_with_guidance"] == 1.0
    assert all(v.guidance == 1.0 for v in preset.variants.values() if v.weights.source == "student")


def test_path_at_a_level_is_where_the_euler_sampler_stands_there():
    """The teacher's state at a level between two of its own is read off its Euler path: the same as running its
    sampler with that level on the grid."""
    from studio.distill.reflow import path_at
    from studio.engine.loading import load_base_pipeline

    teacher = load_base_pipeline(load_preset("tiny-image"), torch.device("cpu"))
    noise = torch.randn((2, *teacher.latent_shape(64, 64, 1)), generator=torch.Generator().manual_seed(0))

    def states(sigmas):
        path = [noise]
        teacher(["a red circle at the left"] * 2, sigmas=sigmas, latents=noise, output_type="latent",
                callback_on_step_end=lambda p, i, t, kw: path.append(kw["latents"]) or {})
        return path, [float(v) for v in teacher.scheduler.sigmas]

    coarse, coarse_sigmas = states([1.0, 0.6, 0.2])
    fine, _ = states([1.0, 0.6, 0.4])
    assert torch.allclose(path_at(coarse, coarse_sigmas, 0.4), fine[2], atol=1e-5)
    assert torch.allclose(path_at(coarse, coarse_sigmas, 0.6), coarse[1], atol=1e-6)  # its own level: its state
    with pytest.raises(ValueError, match="outside"):
        path_at(coarse[:2], coarse_sigmas, 0.3)


def test_the_teachers_own_few_step_path_has_zero_trajectory_loss(tmp_path):
    """Pairs from the unguided teacher sampling 4 steps keep its states at the student's levels; the teacher itself
    as the student then follows them exactly (from the stored states and, with rollout, from its own), while the
    end-point objective of the same pairs is far from zero. Wrong inputs, levels or targets would break the first."""
    from studio.distill.reflow import reflow_loss, student_sigmas, teacher_pairs, trajectory_loss
    from studio.engine.loading import load_base_pipeline

    teacher = load_base_pipeline(load_preset("tiny-image"), torch.device("cpu"))
    teacher.set_progress_bar_config(disable=True)
    levels = student_sigmas(teacher, [4])
    pairs = teacher_pairs(teacher, 8, 4, tmp_path, levels=tuple(levels[1:]))
    assert pairs.states.shape[:2] == (8, 3) and pairs.levels == tuple(levels[1:])
    encoder = teacher.text_encoder.float()
    with torch.no_grad():
        for rollout in (0.0, 1.0):
            loss = trajectory_loss(teacher.transformer, encoder, pairs, levels, 16, torch.Generator().manual_seed(1),
                                   rollout)
            assert loss < 1e-4, (rollout, float(loss))
        endpoint = reflow_loss(teacher.transformer, encoder, pairs, levels, 16, torch.Generator().manual_seed(1))
    assert endpoint > 1e-2
    with pytest.raises(ValueError, match="states"):
        trajectory_loss(teacher.transformer, encoder, pairs, [1.0, 0.5], 4, torch.Generator().manual_seed(1))


def test_trajectory_targets_are_recorded_and_train_four_steps_only(tmp_path):
    out, work = tmp_path / "o", tmp_path / "w"
    assert main(["distill", *TOY, "--train-steps", "2", "--targets", "trajectory", "--schedule", "uniform",
                 "--workdir", str(work), "--out", str(out)]) == 0
    info = json.loads((out / "distill.json").read_text())
    assert info["targets"] == "trajectory" and info["trained_for_steps"] == [4]
    assert json.loads((work / "settings.json").read_text())["targets"] == "trajectory"
    (folder,) = work.glob("pairs-*")
    assert folder.name.endswith("-states0.75,0.5,0.25")
    assert torch.load(folder / "chunk-00000.pt", weights_only=True)["states"].shape[1] == 3
