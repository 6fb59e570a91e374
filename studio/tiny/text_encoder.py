"""A text encoder for the closed prompt language: parse, then embed each object as one token.

The language is closed, so the "tokenizer" is the parser: each object becomes a row of attribute ids
(shape, color, size, position, motion; 0 = not said). An object's token is the sum of its attribute embeddings
plus a slot embedding, so binding (which colour goes with which shape) is exact by construction and the
denoiser only has to learn to draw.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from studio.tiny.language import COLORS, MAX_OBJECTS, MOTIONS, POSITIONS, SHAPES, SIZES, ObjectSpec

ATTRIBUTES = (("shape", SHAPES), ("color", COLORS), ("size", SIZES), ("position", POSITIONS), ("motion", MOTIONS))


def objects_to_ids(batch: list[list[ObjectSpec]]) -> torch.Tensor:
    """(B, MAX_OBJECTS, 5) long tensor of attribute ids; 0 means unspecified or no object."""
    ids = torch.zeros(len(batch), MAX_OBJECTS, len(ATTRIBUTES), dtype=torch.long)
    for b, objects in enumerate(batch):
        for k, obj in enumerate(objects):
            for a, (name, values) in enumerate(ATTRIBUTES):
                value = getattr(obj, name)
                if value is not None:
                    ids[b, k, a] = values.index(value) + 1
    return ids


def ids_to_objects(ids: torch.Tensor) -> list[list[ObjectSpec]]:
    """Inverse of objects_to_ids: (B, MAX_OBJECTS, 5) attribute ids back to each prompt's objects."""
    def spec(row: list[int]) -> ObjectSpec:
        return ObjectSpec(**{name: values[v - 1] if v else None for (name, values), v in zip(ATTRIBUTES, row,
                                                                                              strict=True)})

    return [[spec(row) for row in rows if row[0]] for rows in ids.tolist()]


class TinyTextEncoder(ModelMixin, ConfigMixin):
    """Maps attribute ids (B, K, 5) to tokens (B, K, dim) and a pooled vector (B, dim)."""

    @register_to_config
    def __init__(self, dim: int = 64, max_objects: int = MAX_OBJECTS):
        super().__init__()
        self.attribute_embeddings = nn.ModuleList(nn.Embedding(len(values) + 1, dim) for _, values in ATTRIBUTES)
        self.slot_embedding = nn.Embedding(max_objects, dim)
        self.absent = nn.Parameter(torch.zeros(dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        present = (ids[..., 0] > 0).unsqueeze(-1)  # (B, K, 1): an object has a shape
        tokens = sum(emb(ids[..., a]) for a, emb in enumerate(self.attribute_embeddings))
        tokens = tokens + self.slot_embedding.weight[: ids.shape[1]]
        tokens = self.norm(torch.where(present, tokens, self.absent.expand_as(tokens)))  # (B, K, dim)
        pooled = tokens.mean(dim=1)  # (B, dim)
        return tokens, pooled
