"""The Pareto chart: names of points that sit together do not print over each other."""

from studio.bench.chart import label_offsets, pareto_chart_png


def test_names_of_nearby_points_go_on_different_sides():
    points = {"baseline": (1.0, 0.0), "int8": (0.91, 0.0), "fbc": (1.63, 0.001), "naive4": (11.3, 0.029)}
    offsets = label_offsets(points, 0.029)
    assert offsets["int8"] != offsets["baseline"]  # 1.0x and 0.91x at LPIPS 0: they overlapped
    assert offsets["fbc"] == offsets["naive4"] == (6, 5)  # far from their neighbours: the usual place


def test_chart_is_a_png():
    variants = {"baseline": {"speedup": 1.0, "lpips_mean": 0.0}, "int8": {"speedup": 0.91, "lpips_mean": 0.0}}
    assert pareto_chart_png(variants, ["baseline"], "baseline", 0.1)[:8] == b"\x89PNG\r\n\x1a\n"
