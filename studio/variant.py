"""Variant recipes: frozen plain data (stdlib only) describing how one variant differs from the baseline.

A Variant stacks any of: other weights (a distilled checkpoint, a distillation LoRA, a local student),
a quantization, a cache, fewer steps, another scheduler or guidance, torch.compile. The engine turns these into
library objects through lookup tables; nothing here imports torch.

Example:
    >>> v = Variant("fast", quant=QuantSpec("int8wo"), cache=CacheSpec("teacache", 0.3), steps=50)
    >>> v.slug
    'int8wo-tea0.3-s50'
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from studio.schedule import SCHEDULES

WEIGHT_SOURCES = ("base", "distilled", "lora", "student")
QUANT_METHODS = ("int8wo", "int8dq", "fp8wo", "fp8dqrow", "mxfp8", "nvfp4", "int4wo", "prequant")

# cache kind -> (slug prefix, main parameter, {parameter: (type, low, high, default, what raising it trades)})
CACHE_KINDS: dict[str, tuple[str, str, dict[str, tuple[type, float, float, float, str]]]] = {
    "teacache": ("tea", "threshold", {
        "threshold": (float, 0.0, 5.0, 0.3, "more steps reused: faster, further from baseline")}),
    "fbc": ("fbc", "threshold", {
        "threshold": (float, 0.0, 1.0, 0.1, "more steps reused: faster, further from baseline")}),
    "magcache": ("mag", "threshold", {
        "threshold": (float, 0.0, 1.0, 0.06, "more error accumulated before recomputing: faster, less exact"),
        "max_skip_steps": (int, 1, 50, 3, "longer runs of reused steps")}),
    "taylorseer": ("taylor", "cache_interval", {
        "cache_interval": (int, 1, 20, 3, "steps between full computations: faster, less exact"),
        "max_order": (int, 0, 4, 1, "higher-order extrapolation: closer on smooth trajectories, more memory"),
        "warmup_steps": (int, 0, 100, 3, "full steps before caching starts: slower, safer")}),
    "pab": ("pab", "skip_range", {
        "skip_range": (int, 2, 10, 2, "attention reused for more steps: faster, less exact")}),
    "fastercache": ("faster", "skip_range", {
        "skip_range": (int, 2, 10, 2, "attention reused for more steps: faster, less exact")}),
    "region": ("region", "active_ratio", {  # RAS-style: recompute only the tokens still changing
        "active_ratio": (float, 0.01, 1.0, 0.5, "more tokens recomputed per step: slower, closer to baseline"),
        "warmup_steps": (int, 0, 100, 10, "full steps before caching starts: slower, safer"),
        "refresh_every": (int, 0, 100, 10, "a full step every k steps (0 = never): lower is slower, closer"),
        "score": (int, 0, 2, 0, "token ranking: 0 drift (change x steps since computed), 1 change, 2 input change"),
        "teacache": (float, 0.0, 5.0, 0.0, "TeaCache threshold on top (0 = off): skips whole steps, faster")}),
}
REGION_SCORES = ("drift", "change", "input")  # the region cache's `score` parameter indexes this


def param_tag(name: str) -> str:
    """A parameter's slug tag: its words' initials (warmup_steps -> 'ws', refresh_every -> 're')."""
    return "".join(word[0] for word in name.split("_"))


def _cache_slug(cache: CacheSpec) -> str:
    """prefix + main value, then every other parameter that differs from its default as tag + value."""
    prefix, main, table = CACHE_KINDS[cache.kind]
    resolved = cache.resolved()
    extras = "".join(f"{param_tag(n)}{resolved[n]:g}" for n in sorted(table)
                     if n not in (main, "teacache") and resolved[n] != table[n][3])
    return f"{prefix}{resolved[main]:g}{extras}"


def _parse_cache_token(kind: str, token: str, body: str, slug: str) -> CacheSpec:
    """The inverse of _cache_slug for one token: `body` is what follows the prefix, e.g. '0.1ws5re0'."""
    _, main, table = CACHE_KINDS[kind]
    parts = re.findall(r"([a-z]*)(\d+(?:\.\d+)?)", body)
    if "".join(t + v for t, v in parts) != body or not parts or parts[0][0]:
        raise RecipeError(f"slug '{slug}': cannot read cache part '{token}'")
    tags = {param_tag(n): n for n in table if n not in (main, "teacache")}
    params = []
    for tag, value in parts[1:]:
        if tag not in tags:
            known = ", ".join(f"{t} ({n})" for t, n in tags.items()) or "none"
            raise RecipeError(f"slug '{slug}': cache part '{token}' has an unknown parameter tag '{tag}'; "
                              f"{kind} takes {known}")
        params.append((tags[tag], table[tags[tag]][0](float(value))))
    return CacheSpec(kind, table[main][0](float(parts[0][1])), tuple(params))


class RecipeError(ValueError):
    """A recipe that cannot be built; the message lists what is allowed."""


class UnknownSlugPart(RecipeError):
    """A slug part that is no known part at all (a typo or a stray name), not a known part with a bad value."""


def _known(kind: str, names) -> str:
    return f"known {kind}: {', '.join(names)}"


@dataclass(frozen=True)
class WeightsSpec:
    """Where the denoiser's weights come from. `ref` is a Hub id or local path; None for the preset's base."""

    source: str = "base"
    ref: str | None = None
    revision: str | None = None
    lora_scale: float = 1.0
    name: str | None = None  # the preset's name for them where it offers two of one source, e.g. 'student1'

    def __post_init__(self):
        if self.source not in WEIGHT_SOURCES:
            raise RecipeError(f"unknown weights source '{self.source}'; {_known('sources', WEIGHT_SOURCES)}")
        if self.source != "base" and not self.ref:
            raise RecipeError(f"weights source '{self.source}' needs a ref (Hub id or local path)")
        if self.name is not None and weights_source_of(self.name) != self.source:
            raise RecipeError(f"weights name '{self.name}' must be '{self.source}' followed by lowercase letters "
                              f"or digits (e.g. '{self.source}1'), the source its slugs are read as")

    @property
    def tag(self) -> str:
        """The weights' part of a slug: their name in the preset, else their source."""
        return self.name or self.source


def weights_source_of(name: str) -> str | None:
    """The source a preset's weights name stands for ('student1' -> 'student'), None if it names none. A name
    starts with its source so that it never reads as another slug part (a quantization, a cache, steps)."""
    match = re.fullmatch(f"({'|'.join(WEIGHT_SOURCES[1:])})[a-z0-9]*", name)
    return match.group(1) if match else None


@dataclass(frozen=True)
class QuantSpec:
    """A torchao quantization of the denoiser (or a pre-quantized checkpoint for 'prequant')."""

    method: str
    checkpoint: str | None = None

    def __post_init__(self):
        if self.method not in QUANT_METHODS:
            raise RecipeError(f"unknown quantization '{self.method}'; {_known('methods', QUANT_METHODS)}")
        if self.method == "prequant" and not self.checkpoint:
            raise RecipeError("quantization 'prequant' needs a checkpoint (Hub id or local path)")


@dataclass(frozen=True)
class CacheSpec:
    """A step or region cache. `params` is a sorted tuple of (name, value) pairs so the spec stays hashable."""

    kind: str
    value: float | None = None  # the kind's main parameter (threshold, interval, ratio)
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        if self.kind not in CACHE_KINDS:
            raise RecipeError(f"unknown cache '{self.kind}'; {_known('caches', CACHE_KINDS)}")
        _, main, table = CACHE_KINDS[self.kind]
        merged = dict(self.params)
        if self.value is not None:
            merged[main] = self.value
        for name, value in merged.items():
            if name not in table:
                raise RecipeError(f"cache '{self.kind}' has no parameter '{name}'; {_known('parameters', table)}")
            typ, low, high, _, _ = table[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or (typ is int and value != int(value)):
                raise RecipeError(f"cache '{self.kind}' parameter '{name}' must be a {typ.__name__}, got {value!r}")
            if not low <= value <= high:
                raise RecipeError(f"cache '{self.kind}' parameter '{name}'={value} is out of range [{low}, {high}]")
        object.__setattr__(self, "value", merged.pop(main, None))
        object.__setattr__(self, "params", tuple(sorted(merged.items())))

    def resolved(self) -> dict[str, float]:
        """All parameters with defaults filled in."""
        _, main, table = CACHE_KINDS[self.kind]
        out = {name: spec[3] for name, spec in table.items()}
        out.update(dict(self.params))
        if self.value is not None:
            out[main] = self.value
        return out


@dataclass(frozen=True)
class Variant:
    """One variant of a preset's model. None fields mean 'the preset's default'."""

    name: str
    weights: WeightsSpec = field(default_factory=WeightsSpec)
    quant: QuantSpec | None = None
    cache: CacheSpec | None = None
    steps: int | None = None
    scheduler: str | None = None
    schedule: str | None = None
    guidance: float | None = None
    compile: bool = False

    def __post_init__(self):
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.+-]{0,63}", self.name or ""):
            raise RecipeError(f"variant name {self.name!r} must be 1-64 lowercase letters, digits, '_', '.', '+', '-'")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or not 1 <= self.steps <= 1000):
            raise RecipeError(f"steps must be an integer from 1 to 1000, got {self.steps!r}")
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise RecipeError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.guidance is not None and not 0 <= self.guidance <= 30:
            raise RecipeError(f"guidance must be between 0 and 30, got {self.guidance!r}")
        if self.cache is not None and self.cache.kind == "region" and self.steps is not None:
            warmup = int(self.cache.resolved()["warmup_steps"])
            if self.steps <= max(1, warmup) + 1:
                raise RecipeError(f"cache 'region' with warmup_steps={warmup} computes all of {self.steps} steps in "
                                  f"full (warm-up, then the last step); lower warmup_steps below {self.steps - 1} "
                                  f"or drop the cache")
        if self.compile and self.cache is not None and self.cache.kind == "region":
            raise RecipeError("cache 'region' does not stack with compile: its per-step state and token count make "
                              "torch.compile recompile every step until it gives up; drop one of the two")

    @property
    def slug(self) -> str:
        """Short readable id, e.g. 'student-int8wo-tea0.3-s4'; parseable by `parse_slug` with the same preset."""
        parts = [] if self.weights.source == "base" else [self.weights.tag]
        if self.quant:
            parts.append(self.quant.method)
        if self.cache:
            resolved = self.cache.resolved()
            parts.append(_cache_slug(self.cache))
            if resolved.get("teacache"):  # region stacked with TeaCache
                parts.append(f"tea{resolved['teacache']:g}")
        if self.steps is not None:
            parts.append(f"s{self.steps}")
        if self.scheduler:
            parts.append(f"sched_{self.scheduler}")
        if self.schedule:
            parts.append(self.schedule)
        if self.guidance is not None:
            parts.append(f"g{self.guidance:g}")
        if self.compile:
            parts.append("compile")
        return "-".join(parts) or "base"

    def kind(self, default_steps: int) -> str:
        """baseline | quantized | cached | distilled | naive | stacked."""
        features = []
        if self.weights.source != "base":
            features.append("distilled")
        if self.quant:
            features.append("quantized")
        if self.cache:
            features.append("cached")
        if self.weights.source == "base" and self.steps is not None and self.steps < default_steps:
            features.append("naive")
        if not features:
            return "baseline"
        return features[0] if len(features) == 1 else "stacked"

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.cache:
            d["cache"] = {"kind": self.cache.kind, **self.cache.resolved()}
        return d


def parse_slug(slug: str, named_weights: dict[str, WeightsSpec] | None = None, name: str | None = None) -> Variant:
    """Build a Variant from a slug such as 'int8wo-tea0.3-s50'. Weights tags resolve through `named_weights`."""
    named_weights = named_weights or {}
    prefixes = {prefix: kind for kind, (prefix, _, _) in CACHE_KINDS.items()}
    fields: dict = {}
    for token in slug.split("-") if slug != "base" else []:
        if token in named_weights or weights_source_of(token):
            if token not in named_weights:
                raise RecipeError(f"slug '{slug}': this preset has no '{token}' weights; "
                                  f"{_known('weights', named_weights) if named_weights else 'it has none'}")
            fields["weights"] = named_weights[token]
        elif token in QUANT_METHODS:
            fields["quant"] = QuantSpec(token)
        elif token == "compile":
            fields["compile"] = True
        elif token in SCHEDULES:
            fields["schedule"] = token
        elif re.fullmatch(r"s\d+", token):
            fields["steps"] = int(token[1:])
        elif re.fullmatch(r"g\d+(\.\d+)?", token):
            fields["guidance"] = float(token[1:])
        elif token.startswith("sched_"):
            fields["scheduler"] = token[len("sched_"):]
        else:
            m = re.fullmatch(r"([a-z]+)(\d+(?:\.\d+)?(?:[a-z]+\d+(?:\.\d+)?)*)", token)
            if not m or m.group(1) not in prefixes:
                raise UnknownSlugPart(
                    f"slug '{slug}': unknown part '{token}'. Parts: weights ({', '.join(WEIGHT_SOURCES[1:])}), "
                    f"quantization ({', '.join(QUANT_METHODS)}), cache (prefix + value: "
                    f"{', '.join(p + 'N' for p in prefixes)}; other parameters as tag + value, e.g. region0.1ws5), "
                    f"sN steps, gX guidance, a schedule ({', '.join(SCHEDULES)}), compile")
            cache = _parse_cache_token(prefixes[m.group(1)], token, m.group(2), slug)
            fields["cache"] = stack_caches(fields["cache"], cache, slug) if "cache" in fields else cache
    return Variant(name or slug, **fields)


def stack_caches(first: CacheSpec, second: CacheSpec, slug: str) -> CacheSpec:
    """Two caches in one recipe: only region + TeaCache stack (TeaCache skips steps, region picks tokens)."""
    if {first.kind, second.kind} != {"region", "teacache"}:
        raise RecipeError(f"slug '{slug}': caches '{first.kind}' and '{second.kind}' do not stack; only 'region' "
                          f"stacks, with 'teacache' (e.g. region0.3-tea0.15)")
    region, tea = (first, second) if first.kind == "region" else (second, first)
    return CacheSpec("region", region.value, tuple(dict(region.params, teacache=tea.value).items()))


def one_per_recipe(variants: list[Variant]) -> list[Variant]:
    """`variants` in order, each recipe (slug) once under its first name: the same recipe twice would only repeat
    a bit-identical run."""
    unique: dict[str, Variant] = {}
    for v in variants:
        unique.setdefault(v.slug, v)
    return list(unique.values())


def naive_counterparts(variants: list[tuple[str, str, int]]) -> list[tuple[str, str]]:
    """(distilled, naive) name pairs from (name, kind, steps) triples: each distilled variant with the first naive
    variant of its step count, the base model simply run for as few steps (what distillation is measured against).
    """
    naive = {}
    for name, kind, steps in variants:
        if kind == "naive":
            naive.setdefault(steps, name)
    return [(name, naive[steps]) for name, kind, steps in variants if kind == "distilled" and steps in naive]
