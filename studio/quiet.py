"""Three known warnings of this torch / torchao / diffusers combination, left out of every command's and the app's
output (stdlib only). They are about code the studio does not use, or say nothing, and fill the lines a user reads:

- torch's pytree: torchao registers its Enum config types as pytree constants, which torch 2.14 calls deprecated
  (two lines at every import of torchao);
- diffusers' torchao quantizer: it imports torchao tensor classes this torchao release moved, needed only to load
  checkpoints *serialized* with torchao; the studio quantizes at load time instead (studio/engine/quantization.py).
- diffusers' model `to(dtype)`: it warns of modules "that should be kept in float32" even when the list is empty
  (as for every model here: distill and the trainers save in float16); the warning with modules listed still shows.

Any other message of those loggers still shows.
"""

from __future__ import annotations

import logging

KNOWN_NOISE = {
    "torch.utils._pytree": "is an Enum subclass and is now natively supported by torch.compile",
    "diffusers.quantizers.torchao.torchao_quantizer": "Unable to import `torchao` Tensor objects",
    "diffusers.models.modeling_utils": "that should be kept in float32: []. Casting directly",
}


class _DropKnown(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in str(record.msg)


def quiet_known_library_noise() -> None:
    """Install the filters (before torch, torchao or diffusers log them; calling twice adds nothing)."""
    for name, text in KNOWN_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnown) for f in logger.filters):
            logger.addFilter(_DropKnown(text))
