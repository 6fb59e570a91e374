"""A labelled image grid (PIL): column labels on top, row labels on the left, a caption under each cell.

Example:
    image = render_grid([[("media/p00000/baseline.png", "1.00x")]], ["prompt 1"], ["baseline"], "tiny-image")
    image.save("grid.png")
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CELL = 128  # pixels: 64x64 outputs are shown 2x, nearest-neighbour, so pixels stay visible
PAD = 6
BACKGROUND, INK, MISSING = (255, 255, 255), (20, 20, 20), (225, 225, 225)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit(path: Path | None, height: int) -> Image.Image | None:
    if path is None or not Path(path).is_file():
        return None
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = height / im.height
        return im.resize((max(1, round(im.width * scale)), height), Image.NEAREST)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return [*lines, line] if line else lines


def render_grid(cells: list[list[tuple[Path | None, str]]], row_labels: list[str], col_labels: list[str],
                title: str = "") -> Image.Image:
    """cells[r][c] = (image path or None, caption). Missing images show as a grey box."""
    font, small = _font(13), _font(11)
    images = [[_fit(p, CELL) for p, _ in row] for row in cells]
    cell_w = max([CELL] + [im.width for row in images for im in row if im is not None])
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = min(220, max([60] + [int(probe.textlength(t, font=font)) + 2 * PAD for t in row_labels]))
    head_h = 18 + 16 * max([1] + [len(_wrap(probe, t, font, cell_w)) for t in col_labels])
    cap_h = 14 * max([1] + [len(_wrap(probe, c, small, cell_w)) for row in cells for _, c in row]) + 4
    title_h = 24 if title else 0
    width = label_w + len(col_labels) * (cell_w + PAD) + PAD
    height = title_h + head_h + len(row_labels) * (CELL + cap_h + PAD) + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((PAD, 4), title, fill=INK, font=font)
    for c, label in enumerate(col_labels):
        x = label_w + c * (cell_w + PAD)
        for i, line in enumerate(_wrap(draw, label, font, cell_w)):
            draw.text((x, title_h + 4 + 16 * i), line, fill=INK, font=font)
    for r, label in enumerate(row_labels):
        y = title_h + head_h + r * (CELL + cap_h + PAD)
        for i, line in enumerate(_wrap(draw, label, font, label_w - PAD)[:8]):
            draw.text((PAD, y + 4 + 15 * i), line, fill=INK, font=font)
        for c, (_, caption) in enumerate(cells[r]):
            x = label_w + c * (cell_w + PAD)
            im = images[r][c]
            if im is None:
                draw.rectangle([x, y, x + CELL - 1, y + CELL - 1], fill=MISSING)
            else:
                canvas.paste(im, (x, y))
            for i, line in enumerate(_wrap(draw, caption, small, cell_w)):
                draw.text((x, y + CELL + 2 + 14 * i), line, fill=INK, font=small)
    return canvas
