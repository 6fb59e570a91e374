"""A torch.compile-wrapped embedded transformer is still recognised (the 'compile' recipe on the embedded models)."""

import torch

from studio.tiny.model import build_pipeline
from studio.tiny.pipeline import denoiser_adapter


def test_compiled_transformer_gets_the_same_adapter():
    transformer = build_pipeline("image").transformer
    compiled = torch.compile(transformer)  # lazy: nothing compiles until it is called
    assert type(denoiser_adapter(compiled)) is type(denoiser_adapter(transformer))
