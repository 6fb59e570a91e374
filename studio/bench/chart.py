"""The Pareto chart as PNG bytes (matplotlib, object API: no pyplot global state, safe in a server thread).

Example:
    png = pareto_chart_png(summary["variants"], pareto_front(summary["variants"]), "teacache", 0.1)
"""

from __future__ import annotations

import io


def label_offsets(points: dict[str, tuple[float, float]], y_span: float) -> dict[str, tuple[int, int]]:
    """Text offsets (points) for each name: above-right, or below-right when the previous point (by speedup) is
    close enough for their names to overlap (int8 and the baseline both sit near 1x, LPIPS 0)."""
    import math

    offsets, previous, below = {}, None, False
    for name, (x, y) in sorted(points.items(), key=lambda item: item[1]):
        near = previous is not None and abs(math.log(x / previous[0])) < 0.15 and abs(y - previous[1]) < 0.08 * y_span
        below = not below if near else False
        offsets[name] = (6, -11) if below else (6, 5)
        previous = (x, y)
    return offsets


def pareto_chart_png(variants: dict[str, dict], front: list[str], recommended: str | None,
                     budget_mean_lpips: float | None = None) -> bytes:
    """Speedup (x; log scale when it spans more than 8x) vs mean LPIPS (y); the front joined and highlighted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    points = {n: (s["speedup"], s["lpips_mean"]) for n, s in variants.items()
              if s.get("speedup") and s.get("lpips_mean") is not None and not s.get("errors")}
    fig = Figure(figsize=(7, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ys = [p[1] for p in points.values()]
    offsets = label_offsets(points, (max(ys) - min(ys)) or 1.0) if points else {}
    for name, (x, y) in points.items():
        on_front = name in front
        ax.scatter([x], [y], s=70 if on_front else 40, color="#d9480f" if on_front else "#868e96", zorder=3,
                   marker="*" if name == recommended else "o", edgecolors="black" if name == recommended else "none")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=offsets[name], fontsize=8)
    line = sorted((points[n] for n in front if n in points), key=lambda p: p[0])
    if len(line) > 1:
        ax.plot([p[0] for p in line], [p[1] for p in line], color="#d9480f", linewidth=1.5, zorder=2,
                label="Pareto front")
    if budget_mean_lpips is not None:
        ax.axhline(budget_mean_lpips, color="#1c7ed6", linestyle="--", linewidth=1,
                   label=f"mean LPIPS budget {budget_mean_lpips:g}")
    speeds = [p[0] for p in points.values()]
    log_scale = bool(speeds) and min(speeds) > 0 and max(speeds) / min(speeds) > 8  # wide ranges only
    if log_scale:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_xlabel("speedup vs baseline (p50 latency ratio" + (", log scale)" if log_scale else ")"))
    ax.set_ylabel("mean LPIPS vs baseline (lower is closer)")
    ax.set_title("Speed vs quality" + (f" — recommended: {recommended}" if recommended else ""))
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
