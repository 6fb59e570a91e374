"""The per-frame chart: one tick per frame on short clips (numbers drew 1, 1.5, 2, …), numbers on long ones."""

from studio.ui.readouts import FRAME_TICKS_UP_TO, per_frame_rows


def _report(name: str, lpips: list[float]) -> dict:
    return {"name": name, "metrics": {"per_frame": {"lpips": lpips}}}


def test_short_clips_get_one_category_per_frame_in_frame_order():
    rows = per_frame_rows([_report("int8", [0.1] * 12), _report("distilled", [0.2] * 12)])
    frames = [row[0] for row in rows[:12]]
    assert frames == [f"{i:02d}" for i in range(1, 13)] and len(rows) == 24
    assert sorted(frames) == frames  # the chart orders categories as text: "10" after "09", not after "1"
    assert {row[2] for row in rows} == {"int8 (LPIPS)", "distilled (LPIPS)"}
    assert [row[0] for row in per_frame_rows([_report("int8", [0.1] * 8)])] == [str(i) for i in range(1, 9)]


def test_long_clips_keep_numbers():
    rows = per_frame_rows([_report("int8", [0.1] * (FRAME_TICKS_UP_TO + 1))])
    assert rows[-1][0] == FRAME_TICKS_UP_TO + 1


def test_images_give_an_empty_chart():
    assert per_frame_rows([]) == []
