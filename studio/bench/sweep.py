"""Sweeps: a grid over one or two recipe parameters (cache threshold, quantization method, steps), like an X/Y plot.

Each swept variant starts from a base variant of the bench and changes one field per axis. With one axis the
grid's rows are the base variants; with two axes the rows are the second axis (one grid per base variant).

Example:
    axes = [parse_sweep("threshold=0.05,0.1,0.2")]
    plan = expand_sweep([preset.variant("teacache"), preset.variant("fbc")], axes)
    plan.variants    # 6 variants, named e.g. 'teacache-t0.05'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from studio.variant import QUANT_METHODS, CacheSpec, QuantSpec, RecipeError, Variant

MAX_VALUES = 8  # per axis: a grid wider than this is unreadable and slow
NO_QUANT = "none"


class SweepError(ValueError):
    """A sweep that cannot be built; the message says what is allowed."""


def _threshold(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 5:
        raise ValueError
    return value


def _quant(text: str) -> str:
    if text not in (NO_QUANT, *QUANT_METHODS) or text == "prequant":
        raise ValueError
    return text


def _steps(text: str) -> int:
    if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= 1000:
        raise ValueError
    return int(text)


# parameter -> (parse one value, what is allowed, name tag of a swept variant)
PARAMETERS = {
    "threshold": (_threshold, "cache thresholds from 0 to 5, e.g. threshold=0.05,0.1,0.2",
                  lambda v: f"t{v:g}"),
    "quant": (_quant, f"quantization methods: {NO_QUANT}, {', '.join(m for m in QUANT_METHODS if m != 'prequant')}",
              lambda v: v),
    "steps": (_steps, "whole numbers of steps from 1 to 1000, e.g. steps=4,8,20", lambda v: f"s{v}"),
}


@dataclass(frozen=True)
class SweepAxis:
    parameter: str
    values: tuple

    def label(self, value) -> str:
        return f"{self.parameter}={value:g}" if isinstance(value, float) else f"{self.parameter}={value}"


def parse_sweep(text: str) -> SweepAxis:
    """'threshold=0.05,0.1,0.2' -> SweepAxis('threshold', (0.05, 0.1, 0.2))."""
    name, sep, values = (text or "").partition("=")
    name = name.strip()
    if not sep or name not in PARAMETERS:
        raise SweepError(f"--sweep '{text}': write PARAMETER=V1,V2,...; parameters: {', '.join(PARAMETERS)}")
    parse, allowed, _ = PARAMETERS[name]
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not 1 <= len(items) <= MAX_VALUES:
        raise SweepError(f"--sweep {name}: give 1 to {MAX_VALUES} values, got {len(items)}")
    parsed = []
    for item in items:
        try:
            parsed.append(parse(item))
        except ValueError:
            raise SweepError(f"--sweep {name}: '{item}' is not allowed; {allowed}") from None
    return SweepAxis(name, tuple(dict.fromkeys(parsed)))


def _apply(base: Variant, axis: SweepAxis, value) -> Variant:
    if axis.parameter == "threshold":
        try:
            return replace(base, cache=CacheSpec(base.cache.kind, value, base.cache.params))
        except RecipeError as e:
            raise SweepError(f"--sweep threshold on '{base.name}': {e}") from None
    if axis.parameter == "quant":
        return replace(base, quant=None if value == NO_QUANT else QuantSpec(value))
    return replace(base, steps=value)


@dataclass(frozen=True)
class SweepPlan:
    axes: tuple[SweepAxis, ...]
    bases: tuple[Variant, ...]
    cells: dict  # (base name, x value, y value or None) -> Variant
    left_out: tuple[str, ...] = ()  # chosen variants an axis does not apply to (a threshold needs a cache)

    def note(self) -> str:
        """What the sweep left out and why, for the user; empty when it swept every chosen variant."""
        if not self.left_out:
            return ""
        return f"the threshold sweep covers the cached variants only; left out (no cache): {', '.join(self.left_out)}"

    @property
    def variants(self) -> list[Variant]:
        return list(dict.fromkeys(self.cells.values()))


def expand_sweep(bases: list[Variant], axes: list[SweepAxis]) -> SweepPlan:
    """Every base variant crossed with every value of one or two axes (different parameters)."""
    if not 1 <= len(axes) <= 2:
        raise SweepError(f"give one or two --sweep axes, got {len(axes)}")
    if len(axes) == 2 and axes[0].parameter == axes[1].parameter:
        raise SweepError(f"the two --sweep axes must be different parameters, got {axes[0].parameter} twice")
    if not bases:
        raise SweepError("a sweep needs at least one variant to start from")
    left_out = ()
    if any(axis.parameter == "threshold" for axis in axes):  # the default choices mix cached and uncached
        cached = [b for b in bases if b.cache is not None]
        if not cached:
            raise SweepError(f"a threshold sweep needs cached variants; none of {', '.join(b.name for b in bases)} "
                             f"has a cache (pick e.g. teacache or fbc)")
        left_out = tuple(b.name for b in bases if b.cache is None)
        bases = cached
    cells = {}
    x_axis, y_axis = axes[0], axes[1] if len(axes) == 2 else None
    for base in bases:
        for x in x_axis.values:
            for y in (y_axis.values if y_axis else (None,)):
                v = _apply(base, x_axis, x)
                tags = [PARAMETERS[x_axis.parameter][2](x)]
                if y_axis:
                    v = _apply(v, y_axis, y)
                    tags.append(PARAMETERS[y_axis.parameter][2](y))
                cells[(base.name, x, y)] = replace(v, name=f"{base.name}-{'-'.join(tags)}"[:64])
    return SweepPlan(tuple(axes), tuple(bases), cells, left_out)
