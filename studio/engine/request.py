"""What to generate: one run's request, and the settings every prompt of a comparison or bench shares.

Plain data (no torch), so the bench's report writers and the UI can hold them without loading the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.presets import Preset
from studio.sizes import Size, default_size


@dataclass
class RunRequest:
    """What to generate. None means the preset's default."""

    prompt: str
    seed: int = 0
    steps: int | None = None  # the baseline's steps (variants with their own steps keep them)
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    repeats: int = 1
    warmup: bool = True
    interleave: bool = False  # repeats in rounds over all variants (compare); see Engine.compare
    negative_prompt: str | None = None  # pipelines that take one (studio.inputs.check_negative_prompt)

    def __post_init__(self):
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer from 0 to 2^63-1, got {self.seed!r}")
        if self.steps is not None and not 1 <= self.steps <= 1000:
            raise ValueError(f"steps must be from 1 to 1000, got {self.steps}")
        if not 1 <= self.repeats <= 20:
            raise ValueError(f"repeats must be from 1 to 20, got {self.repeats}")


@dataclass(frozen=True)
class Generation:
    """What every prompt of a comparison or bench is drawn with besides its prompt and seed: the baseline's steps
    (None: the preset's; variants with steps of their own keep them), the output size (None: the preset's) and the
    negative prompt (pipelines that take one)."""

    steps: int | None = None
    size: Size | None = None
    negative_prompt: str | None = None

    def request(self, prompt: str, seed: int = 0, **options) -> RunRequest:
        """The RunRequest for one prompt; `options`: RunRequest's repeats, warmup, interleave."""
        return RunRequest(prompt, seed=seed, steps=self.steps, negative_prompt=self.negative_prompt,
                          **size_request(self.size), **options)

    def size_text(self, preset: Preset) -> str:
        """The size drawn at, as `WxH` or `WxHxF` (the preset's own when none was asked for)."""
        return str(self.size) if self.size else default_size(preset)


def size_request(size: Size | None) -> dict:
    """RunRequest's keywords for `size` (none for the preset's own)."""
    return {} if size is None else {"width": size.width, "height": size.height, "frames": size.frames}
