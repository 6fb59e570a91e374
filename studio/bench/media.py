"""Bench media: 8-bit outputs saved as PNG with their generation parameters, and read back for resumed runs.

Metrics compare the 8-bit outputs (what the saved files hold), so a resumed run that reloads its baseline from
disk measures exactly what an uninterrupted run would.

Example:
    paths = save_with_parameters(result, out_dir / "media" / "p0003", {"prompt": "a red circle", "seed": 7})
    read_parameters(paths[0])   # {"prompt": "a red circle", "seed": 7, ...}
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.engine.runner import VariantResult, save_media

PARAMETERS_KEY = "studio:parameters"  # the PNG text chunk holding the JSON of the generation parameters


def to_8bit(output: np.ndarray) -> np.ndarray:
    """The float output in [0, 1] rounded to what an 8-bit file stores, still as floats in [0, 1]."""
    return (np.clip(output, 0, 1) * 255).round().astype(np.float32) / 255


def save_with_parameters(result: VariantResult, out_dir: Path, parameters: dict) -> list[str]:
    """Save the result's media (engine's save_media) and write `parameters` into every PNG's text chunks."""
    paths = save_media(result, out_dir)
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, json.dumps(parameters, sort_keys=True))
    info.add_text("Description", str(parameters.get("prompt", "")))  # the PNG standard's own keyword
    info.add_text("Software", "Speed-Up Studio bench")
    for path in paths:
        if path.endswith(".png"):
            with Image.open(path) as im:
                pixels = im.copy()
            pixels.save(path, pnginfo=info)
    return paths


def read_parameters(path: str | Path) -> dict:
    """The generation parameters stored in a bench PNG ({} when it has none)."""
    with Image.open(path) as im:
        text = getattr(im, "text", {}) or {}
    return json.loads(text[PARAMETERS_KEY]) if PARAMETERS_KEY in text else {}


def load_output(paths: list[str], out_dir: Path, width: int) -> np.ndarray | None:
    """A saved output as floats in [0, 1]: (H, W, 3), or (F, H, W, 3) from a video's frame strip of `width`."""
    # an image's own PNG or a video's frame strip, never a region cache's overlay (`NAME-regions.png`)
    png = next((out_dir / p for p in reversed(paths) if p.endswith(".png") and not p.endswith("-regions.png")), None)
    if png is None or not png.is_file():
        return None
    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    if any(p.endswith(".mp4") for p in paths):  # video: frames side by side (H, F*W, 3)
        h, total, _ = pixels.shape
        return pixels.reshape(h, total // width, width, 3).transpose(1, 0, 2, 3)
    return pixels


def load_outputs(variants: list[dict], out_dir: Path, width: int) -> dict[str, np.ndarray]:
    """Each variant's saved output (a report's `variants`, with their `media`) by slug; those without are left out."""
    outputs = {}
    for v in variants:
        output = load_output(v.get("media") or [], out_dir, width)
        if output is not None:
            outputs[v["slug"]] = output
    return outputs
