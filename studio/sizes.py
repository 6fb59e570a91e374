"""Output sizes: what width × height (× frames) a preset's pipeline can generate, checked before a run (stdlib only).

Speed-ups depend on the size: a step's cost grows with the number of tokens, so quantization and caching pay more
at a deployment's 1344×768 than at a preview's 512×512. A size is written `WxH` or, for video, `WxHxF`
(`832x480x81`); empty means the preset's own.

Example:
    >>> str(parse_size(load_preset("flux1-dev"), "1344x768"))
    '1344x768'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from studio.presets import Preset
from studio.usage import InputError


@dataclass(frozen=True)
class SizeRule:
    multiple: int  # width and height must divide by it (the VAE's downsampling times the transformer's patch)
    smallest: int
    largest: int
    frame_step: int = 1  # video: frames = frame_offset + k * frame_step (the VAE's temporal compression)
    most_frames: int = 257
    frame_offset: int = 1  # 1: the first frame is encoded alone (Wan, LTX); 0: whole groups only


# By pipeline class; from each diffusers pipeline's own checks (check_inputs / its VAE and patch factors)
SIZE_RULES = {
    "tiny": SizeRule(8, 32, 256),  # the embedded models: latents of 1/8; trained at 64x64
    "FluxPipeline": SizeRule(16, 64, 2048),
    "Flux2KleinPipeline": SizeRule(16, 64, 2048),
    "StableDiffusionXLPipeline": SizeRule(8, 64, 2048),
    "StableDiffusion3Pipeline": SizeRule(16, 64, 2048),
    "SanaPipeline": SizeRule(32, 64, 4096),
    "WanPipeline": SizeRule(16, 64, 1280, frame_step=4),
    "LTXConditionPipeline": SizeRule(32, 64, 1280, frame_step=8),
}
TINY_VIDEO_RULE = SizeRule(8, 32, 256, frame_step=8, most_frames=32, frame_offset=0)  # a token holds 8 frames
DEFAULT_RULE = SizeRule(16, 64, 2048)
_PATTERN = re.compile(r"\s*(\d{1,5})\s*[x×]\s*(\d{1,5})\s*(?:[x×]\s*(\d{1,4})\s*)?")


@dataclass(frozen=True)
class Size:
    width: int
    height: int
    frames: int | None = None  # video only

    def __str__(self) -> str:
        return f"{self.width}x{self.height}" + (f"x{self.frames}" if self.frames else "")


def default_size(preset: Preset) -> str:
    """The preset's own size, written as a size is."""
    return str(Size(preset.width, preset.height, preset.frames if preset.media == "video" else None))


def at_size(preset: Preset, size: Size | None) -> Preset:
    """`preset` with `size` as its own (None: unchanged): what a reproduction or a reader of saved media needs."""
    if size is None:
        return preset
    return replace(preset, width=size.width, height=size.height, frames=size.frames or preset.frames)


def report_width(report: dict, preset: Preset) -> int:
    """The width a report's media were generated at (its `size`; reports written before sizes: the preset's)."""
    match = _PATTERN.fullmatch(str(report.get("size") or ""))
    return int(match[1]) if match else preset.width


def rule_for(preset: Preset) -> SizeRule:
    if preset.pipeline == "tiny" and preset.media == "video":
        return TINY_VIDEO_RULE
    return SIZE_RULES.get(preset.pipeline, DEFAULT_RULE)


def allowed_text(preset: Preset) -> str:
    """What sizes the preset takes, in words (for errors and the page's hint)."""
    rule = rule_for(preset)
    sides = f"multiples of {rule.multiple} from {rule.smallest} to {rule.largest}"
    if preset.media != "video":
        return f"WxH, both {sides} (the preset's: {default_size(preset)})"
    frames = (f"a multiple of {rule.frame_step}" if rule.frame_offset == 0 else f"1 + a multiple of {rule.frame_step}")
    return f"WxHxF, W and H {sides}, F {frames} up to {rule.most_frames} (the preset's: {default_size(preset)})"


def parse_size(preset: Preset, text: str | None) -> Size | None:
    """`text` ('WxH', or 'WxHxF' for video) checked against the preset's pipeline; None for empty (the preset's
    own size). Raises InputError saying what is allowed."""
    if text is None or not str(text).strip():
        return None
    match = _PATTERN.fullmatch(str(text))
    if not match:
        raise InputError(f"size {text!r} is not WxH; {allowed_text(preset)}")
    width, height = int(match[1]), int(match[2])
    frames = int(match[3]) if match[3] else None
    rule = rule_for(preset)
    bad = [f"{name} {value}" for name, value in (("width", width), ("height", height))
           if value % rule.multiple or not rule.smallest <= value <= rule.largest]
    if frames is not None and preset.media != "video":
        bad.append(f"frames {frames} (an image preset)")
    elif frames is not None and (not 2 <= frames <= rule.most_frames or (frames - rule.frame_offset) % rule.frame_step):
        bad.append(f"frames {frames}")
    if bad:
        raise InputError(f"size {text.strip()!r}: {', '.join(bad)} not allowed; {allowed_text(preset)}")
    if preset.media == "video" and frames is None:
        frames = preset.frames
    return Size(width, height, frames)

