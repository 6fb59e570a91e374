"""Train an embedded model from scratch on procedural scenes.

    python -m studio.tiny.autoencoder --out .runs/tiny-autoencoder/model
    python -m studio.tiny.train --kind image --autoencoder .runs/tiny-autoencoder/model --out assets/tiny-image
    python -m studio.tiny.train --kind video8 --autoencoder assets/tiny-image/vae --init-from assets/tiny-image \
        --out assets/tiny-video

Flow matching on the autoencoder's latents (pixel space for the *-pixels kinds): x_t = (1 - t) x0 + t noise
with logit-normal t; the transformer predicts x0 and the loss is on the implied velocity
(x_t - x0_hat) / max(t, 0.05), as the sampler uses it. An exponential moving
average (EMA) of the weights is what gets saved. Every step's data and noise come from (seed, step), so a run
resumed from a checkpoint continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path

import torch
from diffusers import AutoencoderTiny

from studio.tiny.data import training_batch
from studio.tiny.deepen import deepen
from studio.tiny.inflate import inflate_image_to_video
from studio.tiny.model import ARCHITECTURES, build_pipeline
from studio.tiny.pipeline import SIGMA_FLOOR, TinyDiffusionPipeline, predict_x0
from studio.tiny.render import VIDEO_FRAMES
from studio.tiny.text_encoder import ATTRIBUTES, objects_to_ids
from studio.training import WorkdirError, check_run_folders, claim_workdir, train_loop

COLOR = [name for name, _ in ATTRIBUTES].index("color")


def noise_levels(count: int, gen: torch.Generator, shift: float = 1.0) -> torch.Tensor:
    """Logit-normal training noise levels t in (0, 1), shifted up by `shift` > 1 as SD3's sampler shifts them."""
    t = torch.sigmoid(torch.randn(count, generator=gen))
    return t if shift == 1.0 else shift * t / (1 + (shift - 1) * t)


def drop_colors(ids: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """`ids` (B, objects, attributes) with that share of the objects' colour ids set to 0 ("not said")."""
    ids = ids.clone()
    ids[..., COLOR] = torch.where(torch.rand(ids.shape[:2], generator=gen) < share, 0, ids[..., COLOR])
    return ids


def flow_matching_loss(pipe: TinyDiffusionPipeline, x0: torch.Tensor, ids: torch.Tensor,
                       gen: torch.Generator, uncond_prob: float = 0.0, time_shift: float = 1.0,
                       drop_color: float = 0.0) -> torch.Tensor:
    """Velocity-space loss of an x0-predicting denoiser on clean pixels x0 (B, 3, [F,] H, W) in [-1, 1].

    With `uncond_prob` > 0 that share of the batch sees an empty prompt (all ids 0), which teaches the model an
    unconditional prediction too, so that sampling can use classifier-free guidance. With `drop_color` > 0 that
    share of the objects lose their colour id: the model must then draw a shape at a place without its colour,
    which is meant to keep shape apart from colour on colour/shape/place combinations it never saw.
    """
    b = x0.shape[0]
    with torch.no_grad():
        x0 = pipe.encode_pixels(x0)
    if uncond_prob > 0:
        ids = torch.where((torch.rand(b, generator=gen) < uncond_prob).view(b, 1, 1), 0, ids)
    if drop_color > 0:
        ids = drop_colors(ids, drop_color, gen)
    t = noise_levels(b, gen, time_shift)
    noise = torch.randn(x0.shape, generator=gen)
    view = (-1,) + (1,) * (x0.dim() - 1)
    xt = (1 - t.view(view)) * x0 + t.view(view) * noise
    tokens, pooled = pipe.text_encoder(ids)
    x0_hat = predict_x0(pipe.transformer, xt, t, tokens, pooled)
    return (((x0 - x0_hat) / t.clamp(min=SIGMA_FLOOR).view(view)) ** 2).mean()


def save_pipeline(pipe: TinyDiffusionPipeline, out: Path) -> None:
    """Save in float16 (half the bytes; the loader upcasts) as safetensors."""
    half = copy.deepcopy(pipe).to(torch.float16)
    half.save_pretrained(out, safe_serialization=True)


def load_autoencoder(kind: str, path: Path | None) -> AutoencoderTiny | None:
    if not ARCHITECTURES[kind][2]:
        return None
    if path is None or not (path / "config.json").is_file():
        raise SystemExit(f"--kind {kind} denoises autoencoder latents: pass --autoencoder DIR, a directory saved by "
                         f"`python -m studio.tiny.autoencoder --out DIR` (got {path})")
    return AutoencoderTiny.from_pretrained(path).to(torch.float32)


def trained_modules(pipe: TinyDiffusionPipeline) -> torch.nn.ModuleDict:
    """What training changes and checkpoints save: the denoiser and the text encoder (the autoencoder is frozen)."""
    return torch.nn.ModuleDict({"transformer": pipe.transformer, "text_encoder": pipe.text_encoder})


def export_checkpoint(kind: str, workdir: Path, out: Path, vae: AutoencoderTiny | None) -> None:
    """Save the EMA weights of the latest checkpoint as a pipeline (to look at a run before it ends)."""
    if not (workdir / "checkpoint.pt").is_file():
        raise WorkdirError(f"--workdir '{workdir}' holds no checkpoint.pt to export; train first (or name the "
                           "run's --workdir)")
    state = torch.load(workdir / "checkpoint.pt", weights_only=True)
    pipe = build_pipeline(kind, vae=vae)
    trained_modules(pipe).load_state_dict(state["ema"])
    save_pipeline(pipe, out)
    print(f"exported step {state['step']} of {workdir} to {out}", file=sys.stderr)


def start_from(pipe: TinyDiffusionPipeline, source: TinyDiffusionPipeline) -> str:
    """Give the fresh `pipe` the trained weights of `source`; returns what was done, for the log.

    A pipeline of the same kind continues its training (a workdir's checkpoint may be gone; the shipped weights
    are not); a latent image pipeline inflates into a latent video one (studio/tiny/inflate.py); a shallower one of
    the same token layout grows into a deeper kind (studio/tiny/deepen.py).
    """
    if pipe.is_video and not source.is_video:
        inflate_image_to_video(pipe, source)
        return "initialised by inflating the image model"
    if (pipe.vae is None) != (source.vae is None) or pipe.is_video != source.is_video:
        raise ValueError("continuing needs a pipeline of the same kind (or a latent image one to inflate into video)")
    if pipe.vae is not None and not all(  # the saved pipeline keeps its autoencoder in float16
            torch.equal(a.half(), b.half()) for a, b in zip(pipe.vae.state_dict().values(),
                                                            source.vae.state_dict().values(), strict=True)):
        raise ValueError("its autoencoder differs from --autoencoder: its latents would mean something else")
    deeper = pipe.transformer.config.num_single_layers > source.transformer.config.num_single_layers
    try:
        if deeper:
            deepen(pipe, source)
            return "deepened (new blocks start as identities)"
        trained_modules(pipe).load_state_dict(trained_modules(source).state_dict())
    except RuntimeError:
        raise ValueError("its denoiser has a different architecture than --kind's") from None
    return "continuing the training of"


def train(kind: str, steps: int, batch: int, lr: float, seed: int, out: Path, workdir: Path, ema_decay: float,
          checkpoint_every: int, threads: int | None, uncond_prob: float = 0.0,
          vae: AutoencoderTiny | None = None, init_from: Path | None = None, time_shift: float = 1.0,
          drop_color: float = 0.0) -> None:
    # What decides the training's course (not --steps: rerunning with more steps stretches the schedule on purpose).
    settings = {"kind": kind, "batch": batch, "lr": lr, "seed": seed, "ema_decay": ema_decay,
                "uncond_prob": uncond_prob}
    if time_shift != 1:  # only runs that use it name it, so older workdirs still resume
        settings["time_shift"] = time_shift
    if drop_color:
        settings["drop_color"] = drop_color
    claim_workdir(workdir, settings)
    if threads:
        torch.set_num_threads(threads)
    pipe = build_pipeline(kind, seed, vae=vae)
    if init_from is not None and not (workdir / "checkpoint.pt").exists():  # a resumed run has its own weights
        try:
            how = start_from(pipe, TinyDiffusionPipeline.from_pretrained(init_from).to(torch.float32))
        except ValueError as e:  # e.g. a pixel-space or video pipeline: say so in one line, not a traceback
            raise SystemExit(f"--init-from {init_from}: {e}") from None
        print(f"{how} {init_from}", file=sys.stderr)
    modules = trained_modules(pipe)
    video = pipe.is_video

    def loss_at(step: int) -> torch.Tensor:
        rng = random.Random(seed * 1_000_003 + step)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        specs, x0 = training_batch(rng, batch, video, VIDEO_FRAMES)
        return flow_matching_loss(pipe, x0, objects_to_ids(specs), gen, uncond_prob, time_shift, drop_color)

    ema = train_loop(modules, loss_at, steps=steps, lr=lr, workdir=workdir, desc=f"train {kind}",
                     ema_decay=ema_decay, checkpoint_every=checkpoint_every)
    modules.load_state_dict(ema.state_dict())
    save_pipeline(pipe, out)
    (out / "loss.csv").write_text((workdir / "loss.csv").read_text())
    print(f"saved {kind} model to {out}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", choices=tuple(ARCHITECTURES), required=True,
                    help="the architecture: pixel or latent, image or video (README, 'The embedded models')")
    ap.add_argument("--autoencoder", type=Path, default=None,
                    help="trained autoencoder directory (the latent kinds 'image' and 'video' need one)")
    ap.add_argument("--steps", type=int, default=3600, help="optimizer steps (default: 3600)")
    ap.add_argument("--batch", type=int, default=32, help="prompts per step (default: 32)")
    ap.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default: 0.001)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the batches and noise: the same seed reproduces "
                    "the loss curve (default: 0)")
    ap.add_argument("--ema-decay", type=float, default=0.999,
                    help="decay of the weights' moving average, which is what is saved (default: 0.999)")
    ap.add_argument("--checkpoint-every", type=int, default=100, help="optimizer steps between checkpoints")
    ap.add_argument("--uncond-prob", type=float, default=0.0,
                    help="share of each batch trained with an empty prompt (enables classifier-free guidance)")
    ap.add_argument("--time-shift", type=float, default=1.0,
                    help="shift the training noise levels up by this factor (1: logit-normal as sampled)")
    ap.add_argument("--drop-color", type=float, default=0.0,
                    help="share of objects trained without their colour (0: every prompt as written)")
    ap.add_argument("--init-from", type=Path, default=None,
                    help="start from this saved pipeline: the same kind continues its training; a latent image "
                         "pipeline starts --kind video (studio/tiny/inflate.py); a shallower one grows into a "
                         "-deep kind (studio/tiny/deepen.py)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--out", type=Path, required=True, help="where the trained pipeline is saved")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="checkpoints and loss log (default: .runs/tiny-KIND); rerun to resume")
    ap.add_argument("--export-only", action="store_true", help="save the latest checkpoint's EMA weights and stop")
    return ap


def main(argv: list[str] | None = None) -> None:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or args.checkpoint_every < 1 or not 0 < args.lr < 1 \
            or not 0 <= args.uncond_prob < 1 or not 0.1 <= args.time_shift <= 10 or not 0 <= args.ema_decay < 1 \
            or not 0 <= args.drop_color < 1:
        ap.error("--steps, --batch and --checkpoint-every must be positive, --lr in (0, 1), --uncond-prob, "
                 "--ema-decay and --drop-color in [0, 1) and --time-shift in [0.1, 10]")
    if args.init_from is not None and not (args.init_from / "model_index.json").is_file():
        ap.error(f"--init-from needs a saved pipeline folder (with model_index.json); got {args.init_from}")
    workdir = args.workdir or Path(".runs") / f"tiny-{args.kind}"
    try:
        check_run_folders(args.out, workdir, args.threads)
        vae = load_autoencoder(args.kind, args.autoencoder)
        if args.export_only:
            return export_checkpoint(args.kind, workdir, args.out, vae)
        train(args.kind, args.steps, args.batch, args.lr, args.seed, args.out, workdir, args.ema_decay,
              args.checkpoint_every, args.threads, args.uncond_prob, vae, args.init_from, args.time_shift,
              args.drop_color)
    except WorkdirError as e:
        ap.error(str(e))


if __name__ == "__main__":
    main()
