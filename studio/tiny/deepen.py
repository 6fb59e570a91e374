"""Start a deeper embedded denoiser from a trained one of the same token layout ("deepening").

The deeper kinds (`image-deep`, `video8-deep`) have the trained kinds' blocks plus extra Flux single blocks. The
trained blocks keep their weights and order; each new block sits after one of them with its output projection at
zero, so it adds nothing to the residual stream and the deeper model starts as exactly the trained one. Training
then grows the new blocks from there instead of relearning colours, shapes and places (Chen, Goodfellow & Shlens,
"Net2Net", arXiv 1511.05641, grow a network function-preserving the same way).
"""

from __future__ import annotations

import torch

from studio.tiny.pipeline import TinyDiffusionPipeline

_SINGLE = "single_transformer_blocks."


def block_order(old: int, new: int) -> list[int | None]:
    """For each of the `new` single blocks, the index of the trained block it copies (None: a new block).

    The trained blocks are spread out evenly with new ones between them, so no stretch of the stack is all new.
    """
    if new < old:
        raise ValueError(f"cannot deepen {old} single blocks into {new}")
    extra, order = new - old, []
    for i in range(old):
        order.append(i)
        if i < extra:
            order.append(None)
    order.extend([None] * (new - len(order)))
    return order


@torch.no_grad()
def deepen_transformer(deep: torch.nn.Module, trained: torch.nn.Module) -> None:
    """Copy the Flux denoiser `trained` into the deeper `deep` (in place); new blocks start as identities."""
    order = block_order(trained.config.num_single_layers, deep.config.num_single_layers)
    source, target = trained.state_dict(), deep.state_dict()
    for name, weight in target.items():
        if name.startswith(_SINGLE):
            index, rest = name[len(_SINGLE):].split(".", 1)
            copied = order[int(index)]
            if copied is None:
                if rest.startswith("proj_out."):
                    weight.zero_()  # the new block's residual branch is zero: the function is unchanged
                continue
            name_in_source = f"{_SINGLE}{copied}.{rest}"
        else:
            name_in_source = name
        if name_in_source not in source or source[name_in_source].shape != weight.shape:
            raise ValueError(f"cannot deepen: {name} has no counterpart of the same shape in the trained model")
        weight.copy_(source[name_in_source].to(weight.dtype))


def deeper_copy(trained: torch.nn.Module, extra_blocks: int) -> torch.nn.Module:
    """A float32 copy of the Flux denoiser `trained` with `extra_blocks` more single blocks (distill --deeper)."""
    if "num_single_layers" not in trained.config:
        raise ValueError(f"{type(trained).__name__} has no single blocks to add to; --deeper needs a Flux denoiser")
    config = {k: v for k, v in trained.config.items() if not k.startswith("_")}
    config["num_single_layers"] += extra_blocks
    deep = type(trained).from_config(config).float()
    deepen_transformer(deep, trained)  # copies cast to float32; the teacher itself stays as it is
    return deep


def deepen(deep: TinyDiffusionPipeline, trained: TinyDiffusionPipeline) -> None:
    """Copy `trained`'s denoiser and text encoder into the deeper pipeline `deep` (in place)."""
    deepen_transformer(deep.transformer, trained.transformer)
    deep.text_encoder.load_state_dict(trained.text_encoder.state_dict())
