"""``metrics A B [--json]``: compare two image files (png/jpg) or two video files (mp4/gif).

Bad input gives one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from studio.metrics.compare import compare_media
from studio.metrics.serialize import json_safe

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".gif")


class InputError(Exception):
    """A user-facing problem with the files given; its message is printed as is."""


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise InputError(
        f"{path}: unsupported file type '{suffix}'; use images {IMAGE_SUFFIXES} or videos {VIDEO_SUFFIXES}"
    )


def _rgb(frame: np.ndarray) -> np.ndarray:
    """Any decoded frame (gray, gray+alpha, RGB, RGBA) as (H, W, 3); alpha is dropped."""
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.shape[-1] in (1, 2):
        return np.repeat(frame[..., :1], 3, axis=-1)
    return frame[..., :3]


def read_media(path: Path) -> np.ndarray:
    """Read an image as (H, W, 3) or a video as (F, H, W, 3) uint8 arrays.

    Example:
        >>> read_media(Path("a.png")).shape
        (64, 64, 3)
    """
    kind = _kind(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if kind == "image":
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        import imageio.v3 as iio

        frames = [_rgb(np.asarray(f)) for f in iio.imiter(path)]
    except Exception as exc:  # noqa: BLE001 - decoder errors vary by format; all mean "unreadable"
        raise InputError(f"{path}: cannot read as {kind} ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise InputError(f"{path}: video has no frames")
    if len({f.shape for f in frames}) != 1:
        raise InputError(f"{path}: frames differ in size")
    return np.stack(frames).astype(np.uint8, copy=False)


def format_table(result: dict, reference: Path, candidate: Path) -> str:
    """Human-readable summary of a :func:`compare_media` result."""
    lpips = f"{result['lpips']:.4f}" if result["lpips"] is not None else f"n/a ({result['lpips_error']})"
    psnr = "inf (identical)" if result["psnr"] == float("inf") else f"{result['psnr']:.2f} dB"
    rows = [("reference", str(reference)), ("candidate", str(candidate)), ("LPIPS", lpips), ("PSNR", psnr),
            ("SSIM", f"{result['ssim']:.4f}")]
    if "per_frame" in result:
        rows += [("frames", str(len(result["per_frame"]["psnr"]))),
                 ("worst frame", f"{result['worst_frame']} (by {result['worst_frame_metric']})"),
                 ("temporal", f"{result['temporal_consistency']:.4f} (mean |change difference|, 0 = same motion)")]
    return "\n".join(f"{name:<12}{value}" for name, value in rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio metrics", description="Compare a candidate image/video "
                                     "with a reference (LPIPS, PSNR, SSIM).")
    parser.add_argument("reference", type=Path, help="reference image (png/jpg) or video (mp4/gif)")
    parser.add_argument("candidate", type=Path, help="candidate of the same kind and size")
    parser.add_argument("--json", action="store_true", help="print JSON (infinite PSNR is the string \"inf\")")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input).

    Example:
        >>> main(["ref.png", "cand.png", "--json"])
        0
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed its usage message
        return int(exc.code or 0)
    try:
        if _kind(args.reference) != _kind(args.candidate):
            raise InputError(f"reference is {_kind(args.reference)} but candidate is {_kind(args.candidate)}: "
                             "pass two images or two videos")
        result = compare_media(read_media(args.reference), read_media(args.candidate))
    except (InputError, ValueError) as exc:
        print(f"metrics: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = {"reference": str(args.reference), "candidate": str(args.candidate), **result}
        print(json.dumps(json_safe(payload), allow_nan=False, indent=2))
    else:
        print(format_table(result, args.reference, args.candidate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
