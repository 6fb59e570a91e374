"""`python -m studio distill`: train a few-step student from a preset's baseline teacher.

    python -m studio distill --preset tiny-image --student-steps 4 --out assets/tiny-image-student

Embedded presets train the whole student transformer on these CPUs. Real-model presets (FLUX, Wan, ...) train a
LoRA student on a CUDA GPU (studio/distill/lora.py) saved in diffusers' LoRA format; without a GPU they are refused
with a message that says so (see README, "Step distillation").
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import sys
import time
from pathlib import Path

from studio.cli_options import add_preset, add_seed
from studio.schedule import SCHEDULES
from studio.storage import output_folder_problem
from studio.training import WorkdirError, claim_workdir
from studio.usage import DistillUsageError
from studio.wording import counted

TARGETS = ("endpoint", "trajectory")
CRITICS = ("latent", "teacher")  # studio.distill.adversarial.critic_for


def add_parser(sub) -> None:
    p = sub.add_parser("distill", help="train a few-step student from the baseline teacher")
    add_preset(p)
    p.add_argument("--student-steps", type=int, default=4, help="sampling steps the student is made for")
    p.add_argument("--also-steps", default=None,
                   help="extra step counts the student also learns (comma list; default 1,2, none with trajectory "
                        "targets)")
    p.add_argument("--targets", choices=TARGETS, default="endpoint",
                   help="endpoint: every step aims at the teacher's sample (reflow); trajectory: each step aims at "
                        "the teacher's state at the next level (embedded presets; one step count)")
    p.add_argument("--teacher-steps", type=int, default=None, help="teacher sampling steps (default: the preset's)")
    p.add_argument("--teacher-guidance", type=float, default=None,
                   help="embedded presets: guidance scale the teacher draws its pairs at, 1 to 30 (default: the "
                        "baseline's); the student still runs unguided")
    p.add_argument("--pairs", type=int, default=None,
                   help="teacher noise -> sample pairs to generate (default: 4096 embedded, 256 LoRA)")
    p.add_argument("--train-steps", type=int, default=None, help="default: 1500 embedded, 1000 LoRA")
    p.add_argument("--batch", type=int, default=None, help="default: 32 embedded, 1 LoRA")
    p.add_argument("--lr", type=float, default=None, help="default: 2e-4 embedded, 1e-4 LoRA")
    p.add_argument("--ema-decay", type=float, default=None,
                   help="EMA of the trained weights, 0 = off (default: 0.995 embedded, 0 LoRA)")
    p.add_argument("--rollout", type=float, default=0.0,
                   help="embedded presets: share of each batch whose noisy input is the student's own sampler "
                        "state rather than the straight-line point (default 0: plain reflow)")
    p.add_argument("--perceptual", type=float, default=0.0,
                   help="embedded presets: weight of an LPIPS term between the decoded student prediction and the "
                        "teacher's sample, added to the latent squared error (InstaFlow; default 0: off)")
    p.add_argument("--adversarial", type=float, default=0.0,
                   help="embedded presets: weight of an adversarial term from a prompt-conditioned critic (see "
                        "--critic), added to the latent squared error (ADD/LADD; default 0: off)")
    p.add_argument("--dmd", type=float, default=0.0,
                   help="embedded presets: weight of a distribution-matching term (DMD: the guided teacher against a "
                        "copy trained on the student's samples), added to the latent squared error (default 0: off)")
    p.add_argument("--critic", choices=CRITICS, default="latent",
                   help="with --adversarial: 'latent', a small critic network of its own; 'teacher', heads on the "
                        "frozen teacher's blocks reading both samples noised again (LADD; two more teacher passes "
                        "a step)")
    p.add_argument("--adherent-only", action="store_true",
                   help="embedded presets: train only on the teacher pairs whose sample the exact checker reads as "
                        "right for its prompt (studio/distill/curate.py; default: every pair)")
    p.add_argument("--rescue-guidance", default="",
                   help="with --adherent-only: re-sample each rejected pair from the same noise at these teacher "
                        "guidance scales in turn (comma list, e.g. 3,6,8) and keep the first sample the checker "
                        "accepts (default: none, rejected pairs are dropped)")
    p.add_argument("--init-student", default=None,
                   help="embedded presets: start the student from this saved student (a distill --out folder) "
                        "instead of the teacher, to fine-tune it")
    p.add_argument("--deeper", type=int, default=0,
                   help="embedded presets: give the student this many more single blocks than the teacher, started "
                        "as identities so it begins as the teacher (studio/tiny/deepen.py; default 0)")
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="embedded presets: the noise levels the student is trained for and sampled at ('uniform': "
                        "1, 1-1/n, ..., 1/n as FluxPipeline; default: the scheduler's own, whose last level is 0.001); "
                        "where the student then samples is its preset variants' `schedule`, chosen by measurement")
    p.add_argument("--lora-rank", type=int, default=None,
                   help="real-model presets: rank of the LoRA on the attention projections (default 16)")
    p.add_argument("--allow-cpu", action="store_true",
                   help="real-model presets: train on a CPU when there is no CUDA GPU (tiny test models only)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="optimizer steps between checkpoints")
    add_seed(p, help="seeds the pairs' noise, their prompts and the training: the same seed reproduces the "
             "loss curve")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--prompts", default=None, help="your prompts to distil on: .txt (one a line), .csv/.tsv (a "
                   "prompt column) or .jsonl, as the bench reads them")
    p.add_argument("--workdir", default=None, help="pairs and checkpoints (default: .runs/distill-PRESET)")
    p.add_argument("--out", required=True, help="folder for the student (loaded by the 'student' weights source)")


def _rescue_guidance(args) -> tuple[float, ...]:
    try:
        scales = tuple(float(s) for s in args.rescue_guidance.split(",") if s.strip())
    except ValueError:
        raise DistillUsageError(f"--rescue-guidance must be a comma list of numbers, got '{args.rescue_guidance}'"
                                ) from None
    if not all(1 <= g <= 30 for g in scales):
        raise DistillUsageError("--rescue-guidance scales must be from 1 (no guidance) to 30")
    if scales and not args.adherent_only:
        raise DistillUsageError("--rescue-guidance re-samples the pairs --adherent-only rejects: give both")
    return scales


def _step_counts(args) -> list[int]:
    try:
        extra = [int(s) for s in args.also_steps.split(",") if s.strip()]
    except ValueError:
        raise DistillUsageError(f"--also-steps must be a comma list of integers, got '{args.also_steps}'") from None
    counts = sorted({args.student_steps, *extra})
    if not all(1 <= n <= 16 for n in counts):
        raise DistillUsageError("--student-steps and --also-steps must be from 1 to 16")
    return counts


def read_prompt_file(path: str, preset) -> list[str]:
    """Your prompts for the teacher's pairs, read and checked as the bench reads a prompts file (.txt, .csv, .tsv,
    .jsonl); an embedded preset's are checked against its prompt language, naming the line."""
    from studio.bench.prompts import PromptFileError, load_prompt_file, validate_for_preset

    try:
        found = load_prompt_file(Path(path))
        validate_for_preset(found, preset)
    except PromptFileError as e:
        raise DistillUsageError(f"--prompts: {e}") from None
    return [p.prompt for p in found.prompts]


def teacher_fingerprint(preset) -> str:
    """What identifies the teacher's weights: for the embedded models a hash of the denoiser's files (retraining
    changes it), for real models the source at its revision."""
    if preset.pipeline != "tiny":
        return f"{preset.source}@{preset.revision or 'main'}"
    return weights_fingerprint(preset.local_path() / "transformer")


def weights_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(folder.glob("*.safetensors")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return "sha256:" + digest.hexdigest()[:16]


def _claim_workdir(workdir: Path, args, counts: list[int], *, teacher: str, guidance: float = 1.0) -> None:
    """A workdir holds one run: resuming with other settings (or another teacher: its cached pairs were drawn by
    the old one) would silently mix two trainings."""
    settings = {"preset": args.preset, "steps": counts, "teacher_steps": args.teacher_steps, "pairs": args.pairs,
                "train_steps": args.train_steps, "batch": args.batch, "lr": args.lr, "seed": args.seed,
                "prompts": args.prompts, "teacher": teacher}
    if args.lora_rank is not None:  # only LoRA runs name these, so older embedded workdirs still resume
        settings.update(lora_rank=args.lora_rank, ema_decay=args.ema_decay)
    if args.rollout:  # only runs that use it name it, so older workdirs still resume
        settings["rollout"] = args.rollout
    if args.targets != "endpoint":
        settings["targets"] = args.targets
    if args.schedule:
        settings["schedule"] = args.schedule
    if args.perceptual:
        settings["perceptual"] = args.perceptual
    if args.adversarial:
        settings["adversarial"] = args.adversarial
        if args.critic != "latent":  # recorded only when not the default, so older workdirs still resume
            settings["critic"] = args.critic
    if args.dmd:
        settings["dmd"] = args.dmd
    if args.deeper:
        settings["deeper"] = args.deeper
    if args.adherent_only:
        settings["adherent_only"] = True
    if args.rescue_guidance:
        settings["rescue_guidance"] = list(args.rescue_guidance)  # parsed by validate()
    if args.init_student:
        settings["init_student"] = weights_fingerprint(Path(args.init_student) / "transformer")
    if guidance != 1:  # a guided teacher's pairs are another training set
        settings["teacher_guidance"] = guidance
    try:
        claim_workdir(workdir, settings)
    except WorkdirError as e:
        raise DistillUsageError(str(e)) from None


EMBEDDED_DEFAULTS = {"pairs": 4096, "train_steps": 1500, "batch": 32, "lr": 2e-4, "ema_decay": 0.995}


def resolve_defaults(args, lora: bool) -> None:
    """Fill the flags left unset with the defaults of the embedded or the LoRA path."""
    from studio.distill.lora import DEFAULTS as LORA_DEFAULTS

    if lora and args.rollout:
        raise DistillUsageError("--rollout applies to embedded presets; real-model presets train a LoRA on reflow "
                                "pairs")
    if lora and args.perceptual:
        raise DistillUsageError("--perceptual applies to embedded presets; real-model presets train a LoRA on "
                                "reflow pairs")
    if lora and (args.adversarial or args.critic != "latent" or args.dmd or args.init_student or args.deeper
                 or args.adherent_only or args.rescue_guidance):
        raise DistillUsageError("--adversarial, --critic, --dmd, --init-student, --deeper, --adherent-only and "
                                "--rescue-guidance apply to embedded presets; real-model presets train a LoRA on "
                                "reflow pairs")
    if lora and args.teacher_guidance is not None:
        raise DistillUsageError("--teacher-guidance applies to embedded presets; a LoRA student learns the real "
                                "pipeline's own guided trajectory")
    if lora and args.targets != "endpoint":
        raise DistillUsageError("--targets trajectory applies to embedded presets; real-model presets train a LoRA "
                                "on reflow pairs")
    if args.targets == "trajectory" and args.also_steps not in (None, ""):
        raise DistillUsageError("--targets trajectory trains one step count (each level's target depends on the "
                                "next level); give --also-steps '' or leave it out")
    if args.also_steps is None:
        args.also_steps = "" if args.targets == "trajectory" else "1,2"
    if lora and args.schedule:
        raise DistillUsageError("--schedule applies to embedded presets; a LoRA student learns the levels the real "
                                "pipeline samples at (FluxPipeline's are already uniform)")
    if not lora and args.lora_rank is not None:
        raise DistillUsageError("--lora-rank applies to real-model presets; embedded presets train the whole "
                                "student transformer")
    if lora and args.lora_rank is None:
        args.lora_rank = 16
    for key, value in (LORA_DEFAULTS if lora else EMBEDDED_DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def validate(args) -> None:
    args.rescue_guidance = _rescue_guidance(args)  # the comma list, parsed once
    checks = [(1 <= args.pairs <= 1_000_000, "--pairs must be from 1 to 1000000"),
              (1 <= args.train_steps <= 1_000_000, "--train-steps must be from 1 to 1000000"),
              (1 <= args.batch <= 4096, "--batch must be from 1 to 4096"),
              (0 < args.lr < 1, "--lr must be in (0, 1)"),
              (args.teacher_steps is None or 1 <= args.teacher_steps <= 1000, "--teacher-steps must be 1..1000"),
              (args.teacher_guidance is None or 1 <= args.teacher_guidance <= 30,
               "--teacher-guidance must be from 1 (no guidance) to 30"),
              (args.threads is None or 1 <= args.threads <= 256, "--threads must be from 1 to 256"),
              (0 <= args.seed < 2**31, "--seed must be from 0 to 2^31-1"),
              (0 <= args.ema_decay < 1, "--ema-decay must be in [0, 1)"),
              (0 <= args.rollout <= 1, "--rollout must be in [0, 1]"),
              (0 <= args.perceptual <= 100, "--perceptual must be in [0, 100]"),
              (0 <= args.adversarial <= 10, "--adversarial must be in [0, 10]"),
              (args.adversarial or args.critic == "latent", "--critic chooses the critic of --adversarial; give a "
               "weight with --adversarial W too"),
              (0 <= args.deeper <= 32, "--deeper must be from 0 to 32"),
              (0 <= args.dmd <= 10, "--dmd must be in [0, 10]"),
              (not (args.dmd and args.adversarial), "--dmd and --adversarial each train a second network beside the "
               "student; give one or the other"),
              (args.targets == "endpoint"
               or not (args.adherent_only or args.perceptual or args.adversarial or args.dmd),
               "--targets trajectory does not combine with --adherent-only, --perceptual, --adversarial or --dmd"),
              (not (args.deeper and args.init_student), "--deeper grows the teacher; a saved student given by "
               "--init-student already has its depth, so give one or the other"),
              (1 <= args.checkpoint_every <= 1_000_000, "--checkpoint-every must be from 1 to 1000000"),
              (args.lora_rank is None or 1 <= args.lora_rank <= 1024, "--lora-rank must be from 1 to 1024")]
    for ok, message in checks:
        if not ok:
            raise DistillUsageError(message)
    if args.init_student and not (Path(args.init_student) / "transformer" / "config.json").is_file():
        raise DistillUsageError(f"--init-student '{args.init_student}' is not a saved student (no "
                                "transformer/config.json); give a folder written by distill --out")
    if problem := output_folder_problem("--out", args.out):  # before the hour of training, not after it
        raise DistillUsageError(problem)


def _perceptual_term(teacher, weight: float):
    """The LPIPS term for `--perceptual`, or None when off; a clear usage error when it cannot run."""
    if not weight:
        return None
    from studio.distill.perceptual import LatentLpips
    from studio.metrics.lpips_offline import LpipsUnavailable

    try:
        return LatentLpips(teacher, weight)
    except (LpipsUnavailable, ValueError) as e:
        raise DistillUsageError(f"--perceptual: {e}") from None


def _drop_source_path(config_file: Path) -> None:
    """A saved config names the folder its weights were first loaded from, an absolute path of this machine: not
    something to ship."""
    config = json.loads(config_file.read_text())
    if config.pop("_name_or_path", None) is not None:
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _check_init_student(preset, folder: str | None) -> None:
    """Before anything loads: a student to start from must have the teacher's architecture."""
    if folder is None:
        return

    def architecture(config_file: Path) -> dict:
        try:
            config = json.loads(config_file.read_text())
        except (OSError, ValueError) as e:
            raise DistillUsageError(f"--init-student: cannot read {config_file} ({e})") from None
        return {k: v for k, v in config.items() if not k.startswith("_")}

    if architecture(Path(folder) / "transformer" / "config.json") != architecture(
            preset.local_path() / "transformer" / "config.json"):
        raise DistillUsageError(f"--init-student '{folder}' has another architecture than the teacher's transformer "
                                f"(preset {preset.name})")


def _initial_student(teacher, folder: str | None, deeper: int = 0):
    """The student's starting weights: the teacher's (with `deeper` more blocks that start as identities), or a
    saved student's (`--init-student`, checked by _check_init_student)."""
    from studio.tiny.pipeline import memoize_rotary

    if folder is None and deeper:
        from studio.tiny.deepen import deeper_copy

        try:
            student = deeper_copy(teacher.transformer, deeper)
        except ValueError as e:
            raise DistillUsageError(f"--deeper: {e}") from None
        memoize_rotary(student)
        return student.requires_grad_(True)
    if folder is None:
        return copy.deepcopy(teacher.transformer).float().requires_grad_(True)
    path = Path(folder) / "transformer"  # validate() checked it holds a config
    try:
        student = type(teacher.transformer).from_pretrained(path).float()
    except (OSError, ValueError, RuntimeError) as e:
        raise DistillUsageError(f"--init-student '{folder}': cannot load its transformer ({e})") from None
    memoize_rotary(student)  # as the teacher's copy has: the same output, faster
    return student.requires_grad_(True)


def _adherent_only(teacher, pairs, rescue_guidance, steps, workdir):
    from studio.distill.curate import adherent_pairs

    total = len(pairs)
    try:
        pairs = adherent_pairs(teacher, pairs, rescue_guidance, steps, workdir)
    except ValueError as e:
        raise DistillUsageError(str(e)) from None
    print(f"--adherent-only: training on {len(pairs)} of {total} pairs ({100 * len(pairs) / total:.1f}%) whose "
          "teacher sample the checker accepts", file=sys.stderr)
    return pairs


def _adversarial_term(teacher, weight: float, kind: str = "latent"):
    """The critic term for `--adversarial` (a `kind` critic of studio.distill.adversarial) and the critic it trains,
    or (None, None) when off."""
    if not weight:
        return None, None
    from studio.distill.adversarial import AdversarialTerm, critic_for
    from studio.tiny.render import IMAGE_SIZE, VIDEO_FRAMES

    latent_shape = teacher.latent_shape(IMAGE_SIZE, IMAGE_SIZE, VIDEO_FRAMES)
    critic = critic_for(latent_shape, teacher.transformer.config.pooled_projection_dim, kind, teacher.transformer)
    return AdversarialTerm(critic, weight), critic


def run(args) -> int:
    import torch

    from studio.distill.reflow import reflow_loss, student_sigmas, teacher_pairs, trajectory_loss
    from studio.engine.loading import load_base_pipeline
    from studio.presets import load_preset
    from studio.training import train_loop

    preset = load_preset(args.preset)
    resolve_defaults(args, lora=preset.pipeline != "tiny")
    validate(args)
    counts = _step_counts(args)
    if preset.pipeline != "tiny":
        from studio.distill.lora import DEFAULT_PROMPTS, run_lora, training_device

        training_device(preset, args.allow_cpu)  # refuse before anything is written
        prompts = read_prompt_file(args.prompts, preset) if args.prompts else list(DEFAULT_PROMPTS)
        workdir = Path(args.workdir or f".runs/distill-{preset.name}")
        _claim_workdir(workdir, args, counts, teacher=teacher_fingerprint(preset))
        return run_lora(args, preset, counts, workdir, prompts)
    prompts = read_prompt_file(args.prompts, preset) if args.prompts else None
    _check_init_student(preset, args.init_student)
    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(args.workdir or f".runs/distill-{preset.name}")
    # The student learns the guided teacher's samples, so it runs unguided (the preset's distilled variants
    # say guidance = 1). The pairs are drawn at the baseline's guidance unless --teacher-guidance says otherwise.
    guidance = args.teacher_guidance or preset.guidance_for(preset.variant("baseline")) or 1.0
    teacher_id = teacher_fingerprint(preset)
    _claim_workdir(workdir, args, counts, teacher=teacher_id, guidance=guidance)
    teacher = load_base_pipeline(preset, torch.device("cpu"))
    teacher.set_progress_bar_config(disable=True)
    perceptual = _perceptual_term(teacher, args.perceptual)  # before the pairs: a missing LPIPS fails fast
    student = _initial_student(teacher, args.init_student, args.deeper)  # and a wrong --init-student
    torch.manual_seed(args.seed)  # the critic's initial weights
    # a term on the student's clean predictions and the network it trains beside the student (a critic, or DMD's
    # fake score below)
    sample_term, partner = _adversarial_term(teacher, args.adversarial, args.critic)
    # where --rollout follows the student's sampler (and, with trajectory targets, the levels it aims between)
    trajectory = student_sigmas(teacher, [args.student_steps], args.schedule)
    pairs = teacher_pairs(teacher, args.pairs, args.teacher_steps or preset.steps, workdir, args.seed,
                          prompts=prompts, guidance_scale=guidance,
                          levels=tuple(trajectory[1:]) if args.targets == "trajectory" else ())
    if args.adherent_only:
        pairs = _adherent_only(teacher, pairs, args.rescue_guidance, args.teacher_steps or preset.steps, workdir)
    text_encoder = teacher.text_encoder.float().requires_grad_(False)
    if args.dmd:  # the guided teacher (at the pairs' guidance) against a copy of it that learns the student
        from studio.distill.dmd import DistributionMatchingTerm

        sample_term = DistributionMatchingTerm(teacher.transformer, text_encoder, args.dmd, guidance)
        partner = sample_term.fake
    sigmas = student_sigmas(teacher, counts, args.schedule)
    print(f"student noise levels ({', '.join(map(str, counts))} steps): {sigmas}", file=sys.stderr)

    def loss_at(step: int):
        random.seed(args.seed * 1_000_003 + step)
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        if args.targets == "trajectory":
            return trajectory_loss(student, text_encoder, pairs, trajectory, args.batch, gen, args.rollout)
        return reflow_loss(student, text_encoder, pairs, sigmas, args.batch, gen, args.rollout, trajectory,
                           perceptual, sample_term)

    started = time.time()
    # with a critic (or DMD's fake score), both train (and checkpoint) together; the student is what is saved
    trained = student if partner is None else torch.nn.ModuleDict({"student": student,
                                                                   "fake" if args.dmd else "critic": partner})
    ema = train_loop(trained, loss_at, steps=args.train_steps, lr=args.lr, workdir=workdir,
                     desc=f"distill {preset.name} -> {counted(args.student_steps, 'step')}", ema_decay=args.ema_decay,
                     warmup=50, checkpoint_every=args.checkpoint_every)
    if partner is not None:
        ema = ema["student"]
    out = Path(args.out)
    ema.to(torch.float16).save_pretrained(out / "transformer", safe_serialization=True)
    _drop_source_path(out / "transformer" / "config.json")
    (out / "distill.json").write_text(json.dumps({
        "method": "reflow (rectified-flow distillation on teacher pairs)" if args.targets == "endpoint" else
        "trajectory (each step matches the teacher's path at the next level, after SFD)", "preset": preset.name,
        "targets": args.targets,
        "student_steps": args.student_steps, "trained_for_steps": counts, "teacher_steps": args.teacher_steps or
        preset.steps, "pairs": args.pairs, "train_steps": args.train_steps, "batch": args.batch, "lr": args.lr,
        "seed": args.seed, "rollout": args.rollout, "perceptual": args.perceptual, "schedule": args.schedule,
        "adversarial": args.adversarial, **({"critic": args.critic} if args.adversarial else {}), "dmd": args.dmd,
        "init_student": args.init_student, "deeper": args.deeper,
        "adherent_only": args.adherent_only, "rescue_guidance": list(args.rescue_guidance),
        "pairs_trained_on": len(pairs),
        "trained_levels": sigmas,
        "prompts_file": args.prompts, "teacher_guidance": guidance,
        "run_with_guidance": 1.0,
        "teacher": teacher_id, "seconds_this_run": round(time.time() - started)},
        indent=2))
    (out / "loss.csv").write_text((workdir / "loss.csv").read_text())
    print(f"student saved to {out}", file=sys.stderr)
    return 0
