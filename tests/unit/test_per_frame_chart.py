"""The per-frame chart: one tick per frame on short clips (numbers drew 1, 1.5, 2, …), numbers on long ones."""

from studio.ui.app import per_frame_chart
from studio.ui.readouts import FRAME_TICKS_UP_TO


def _report(name: str, lpips: list[float]) -> dict:
    return {"name": name, "metrics": {"per_frame": {"lpips": lpips}}}


def test_short_clips_get_one_category_per_frame_in_order():
    chart = per_frame_chart([_report("int8", [0.1] * 12), _report("distilled", [0.2] * 12)])
    frames = [row[0] for row in chart.value["data"]]
    assert frames[:12] == [str(i) for i in range(1, 13)] and len(frames) == 24
    assert chart.sort == [str(i) for i in range(1, 13)]  # "10" after "9", not after "1"
    assert {row[2] for row in chart.value["data"]} == {"int8 (LPIPS)", "distilled (LPIPS)"}


def test_long_clips_keep_numbers():
    chart = per_frame_chart([_report("int8", [0.1] * (FRAME_TICKS_UP_TO + 1))])
    assert chart.value["data"][-1][0] == FRAME_TICKS_UP_TO + 1 and chart.sort is None


def test_images_give_an_empty_chart():
    assert per_frame_chart([]).value["data"] == []
