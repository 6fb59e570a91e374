"""Keep only the teacher pairs whose sample the exact checker reads as right (`distill --adherent-only`), and
optionally re-sample the rejected ones from the same noise at other guidance scales (`--rescue-guidance`).

Reflow teaches the student to reproduce the teacher's samples, wrong ones included: about one in five of the
embedded image teacher's samples on training prompts draws a shape the checker rejects. The embedded models come
with an exact checker, so those pairs can be dropped — rejection sampling on the teacher's output, as in
reward-ranked fine-tuning (RAFT, Dong et al., arXiv 2304.06767). Dropping alone leaves the student to imitate the
teacher's mapping near those noises anyway; re-sampling the same noise at another guidance scale often draws the
prompt right (about half of the rejected image pairs at 3, 6 or 8), so the student gets a right target for that
noise, still on the teacher's own trajectory family. The prompts are the training distribution's, never the
held-out evaluation combinations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm import tqdm

from studio.distill.reflow import PairSet, saved_chunk
from studio.tiny.checker import check_objects
from studio.tiny.language import format_prompt
from studio.tiny.pipeline import TinyDiffusionPipeline
from studio.tiny.text_encoder import ids_to_objects

BATCH = 64


@torch.no_grad()
def adherence_mask(teacher: TinyDiffusionPipeline, pairs: PairSet, batch: int = BATCH) -> torch.Tensor:
    """(N,) bool: whether each pair's teacher sample, decoded, has every object of its prompt right."""
    keep = []
    for start in range(0, len(pairs), batch):
        media = teacher._postprocess(pairs.x0[start:start + batch].float(), "np")  # as the pipeline returns it
        for objects, one in zip(ids_to_objects(pairs.ids[start:start + batch]), media, strict=True):
            keep.append(check_objects(objects, one).adherent)
    return torch.tensor(keep, dtype=torch.bool)


@torch.no_grad()
def _resample(teacher: TinyDiffusionPipeline, noise: torch.Tensor, ids: torch.Tensor, guidance: float, steps: int,
              folder: Path) -> torch.Tensor:
    """The teacher's samples from `noise` at `guidance`, in saved batches under `folder` (a killed run resumes)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for b, start in enumerate(tqdm(range(0, len(noise), BATCH), desc=f"re-sampling at guidance {guidance:g}",
                                   mininterval=5)):
        def make(start=start) -> dict:
            prompts = [format_prompt(o) for o in ids_to_objects(ids[start:start + BATCH])]
            (x0,) = teacher(prompts, num_inference_steps=steps, latents=noise[start:start + BATCH].float(),
                            guidance_scale=guidance, output_type="latent", return_dict=False)
            return {"x0": x0.half()}

        out.append(saved_chunk(folder / f"batch-{b:05d}.pt", make)["x0"])
    return torch.cat(out)


def adherent_pairs(teacher: TinyDiffusionPipeline, pairs: PairSet, rescue_guidance: tuple[float, ...] = (),
                   steps: int = 50, workdir: Path | None = None) -> PairSet:
    """The pairs whose teacher sample the checker accepts; each rejected one is re-sampled from its noise at each
    of `rescue_guidance` in turn (cached under `workdir`) and kept with the first sample accepted. Refuses if no
    pair is left."""
    mask = adherence_mask(teacher, pairs)
    x0 = pairs.x0.clone()
    todo = (~mask).nonzero().flatten()
    first = int(mask.sum())
    for guidance in rescue_guidance:
        if not len(todo):
            break
        if workdir is None:
            raise ValueError("re-sampling needs a workdir for its cached samples")
        # the rejected set at this level depends only on the earlier levels, so the folder names them all
        tag = "-".join(f"{g:g}" for g in rescue_guidance[:rescue_guidance.index(guidance) + 1])
        new = _resample(teacher, pairs.noise[todo], pairs.ids[todo], guidance, steps, workdir / f"rescue-g{tag}")
        ok = adherence_mask(teacher, PairSet(pairs.noise[todo], new, pairs.ids[todo]))
        x0[todo[ok]] = new[ok].to(x0.dtype)
        mask[todo[ok]] = True
        print(f"re-sampled at guidance {guidance:g}: {int(ok.sum())} of {len(todo)} rejected pairs now accepted",
              file=sys.stderr)
        todo = todo[~ok]
    if not mask.any():
        raise ValueError("--adherent-only: the checker accepts none of the teacher's samples; train the teacher "
                         "further or distil without --adherent-only")
    if rescue_guidance:
        print(f"--rescue-guidance: {int(mask.sum()) - first} rejected pairs replaced", file=sys.stderr)
    return PairSet(pairs.noise[mask], x0[mask], pairs.ids[mask])
