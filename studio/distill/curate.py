"""Keep only the teacher pairs whose sample the exact checker reads as right (`distill --adherent-only`).

Reflow teaches the student to reproduce the teacher's samples, wrong ones included: about one in five of the
embedded image teacher's samples on training prompts draws a shape the checker rejects. The embedded models come
with an exact checker, so those pairs can be dropped and the student learns only the teacher's right answers —
rejection sampling on the teacher's output, as in reward-ranked fine-tuning (RAFT, Dong et al., arXiv 2304.06767).
The prompts are the training distribution's, never the held-out evaluation combinations.
"""

from __future__ import annotations

import torch

from studio.distill.reflow import PairSet
from studio.tiny.checker import check_objects
from studio.tiny.pipeline import TinyDiffusionPipeline
from studio.tiny.text_encoder import ids_to_objects


@torch.no_grad()
def adherence_mask(teacher: TinyDiffusionPipeline, pairs: PairSet, batch: int = 64) -> torch.Tensor:
    """(N,) bool: whether each pair's teacher sample, decoded, has every object of its prompt right."""
    keep = []
    for start in range(0, len(pairs), batch):
        media = teacher._postprocess(pairs.x0[start:start + batch].float(), "np")  # as the pipeline returns it
        for objects, one in zip(ids_to_objects(pairs.ids[start:start + batch]), media, strict=True):
            keep.append(check_objects(objects, one).adherent)
    return torch.tensor(keep, dtype=torch.bool)


def adherent_pairs(teacher: TinyDiffusionPipeline, pairs: PairSet) -> PairSet:
    """The pairs whose teacher sample the checker accepts; refuses if none is left."""
    mask = adherence_mask(teacher, pairs)
    if not mask.any():
        raise ValueError("--adherent-only: the checker accepts none of the teacher's samples; train the teacher "
                         "further or distil without --adherent-only")
    return PairSet(pairs.noise[mask], pairs.x0[mask], pairs.ids[mask])
