"""The region overlay: masks decode to the token grid, and the drawing tints exactly the recomputed tokens."""

import numpy as np

from studio.metrics.region_overlay import activity_masks, recompute_share, render_region_overlay

REGION = {  # 3 steps over a 2-frame, 2x2 token grid: full, partial (tokens 0 and 7), full
    "grid": [2, 2, 2], "modes": ["full", "partial", "full"],
    "masks": ["11111111", "10000001", "11111111"],
}


def test_masks_decode_to_the_grid_in_frame_row_col_order():
    masks = activity_masks(REGION)
    assert masks.shape == (3, 2, 2, 2)
    assert masks[1, 0, 0, 0] and masks[1, 1, 1, 1] and masks[1].sum() == 2
    share = recompute_share(REGION)
    assert share[0, 0, 0] == 1 and share[1, 1, 1] == 1 and share.sum() == 2


def test_overlay_tints_the_recomputed_tokens_of_each_frame():
    video = np.full((4, 16, 16, 3), 0.5, dtype=np.float32)  # 4 frames -> 2 token frames of 8x8 px tokens
    scale = 2
    image = render_region_overlay(video, REGION, scale=scale).astype(float)
    cell, label, pad = 16 * scale, 54, 2

    def pixel(row, frame, ty, tx):  # the centre of token (ty, tx) in that row/frame cell
        y = row * (cell + pad) + ty * cell // 2 + cell // 4
        x = label + frame * (cell + pad) + tx * cell // 2 + cell // 4
        return image[y, x]

    assert pixel(0, 0, 0, 0)[0] > pixel(0, 0, 0, 0)[2] + 50  # recomputed: red tint
    assert abs(pixel(0, 0, 1, 1)[0] - pixel(0, 0, 1, 1)[2]) < 5  # not recomputed: the grey frame
    assert pixel(0, 1, 1, 1)[0] > pixel(0, 1, 1, 1)[2] + 50  # frame 2's token (1, 1)
    assert abs(pixel(0, 1, 0, 0)[0] - pixel(0, 1, 0, 0)[2]) < 5
    assert image.shape[0] == 2 * (cell + pad)  # one partial step + the share row
