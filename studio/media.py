"""Side-by-side media: several variants' clips composed into one labelled video so they play in sync."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABEL_HEIGHT = 18


def _labelled(frame: np.ndarray, label: str, size: int) -> Image.Image:
    tile = Image.new("RGB", (size, size + LABEL_HEIGHT), (24, 24, 27))
    pixels = (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)
    tile.paste(Image.fromarray(pixels).resize((size, size), Image.NEAREST), (0, LABEL_HEIGHT))
    ImageDraw.Draw(tile).text((4, 3), label[: size // 6], fill=(240, 240, 240))
    return tile


def side_by_side_frames(clips: list[tuple[str, np.ndarray]], size: int = 192, gap: int = 4) -> np.ndarray:
    """(F, H, W, 3) uint8 frames with each (label, (F, h, w, 3) float clip) in its own labelled column."""
    if not clips:
        raise ValueError("no clips to compose")
    frames = {c.shape[0] for _, c in clips}
    if len(frames) != 1:
        raise ValueError(f"clips differ in frame count: {sorted(frames)}")
    count = frames.pop()
    width = len(clips) * size + (len(clips) - 1) * gap
    out = []
    for i in range(count):
        canvas = Image.new("RGB", (width, size + LABEL_HEIGHT), (255, 255, 255))
        for j, (label, clip) in enumerate(clips):
            canvas.paste(_labelled(clip[i], label, size), (j * (size + gap), 0))
        out.append(np.asarray(canvas))
    return np.stack(out)


def write_side_by_side(clips: list[tuple[str, np.ndarray]], path: Path, fps: int = 8) -> Path:
    """Compose and encode as H.264 MP4 (browsers play it); returns `path`."""
    import imageio.v3 as iio

    frames = side_by_side_frames(clips)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, frames, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p")
    return path
