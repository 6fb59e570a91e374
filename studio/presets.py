"""Presets: one TOML file per model family under presets/, validated on load (stdlib only).

A preset says where the model comes from (a local folder or a Hub id at a revision), its defaults (dtype, steps,
guidance, size, frames), which caches and quantizations apply, and its named variants. Unknown keys, bad values
and names that try to leave the presets folder fail with a message that says what is allowed.

Example:
    >>> preset = load_preset("tiny-image")
    >>> [v.slug for v in preset.variants.values()][:2]
    ['base', 'int8wo']
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.preset_extends import merge_extended
from studio.variant import (
    CACHE_KINDS,
    QUANT_METHODS,
    WEIGHT_SOURCES,
    CacheSpec,
    QuantSpec,
    RecipeError,
    Variant,
    WeightsSpec,
    parse_slug,
    weights_source_of,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
PRESETS_DIR = REPO_ROOT / "presets"
USER_PRESETS_VAR = "STUDIO_PRESETS_DIR"  # a folder of the team's own preset files, listed beside the shipped ones
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MEDIA = ("image", "video")
DTYPES = ("float32", "float16", "bfloat16")
CPU_VAE_DTYPES = ("float32", "bfloat16")
MAX_PRESET_BYTES = 64 * 1024
MAX_EXTENDS = 8  # presets a chain of `extends` may pass through
MAX_SLUG_CHARS = 120  # the longest real slug (weights, quantization, region cache with its parameters, steps) is ~70


class PresetError(ValueError):
    """A preset that cannot be used; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    family: str
    pipeline: str  # diffusers pipeline class name, or "tiny" for the embedded pipeline
    source: str  # local folder (relative to the repo) or Hub id
    revision: str | None
    dtype: str
    media: str
    steps: int
    guidance: float | None
    width: int
    height: int
    frames: int
    caches: tuple[str, ...]
    quantizations: tuple[str, ...]
    requirements: str
    download_gb: float
    teacache_coefficients: tuple[float, ...] | None
    trust_remote_code: bool
    cpu_vae_dtype: str = "float32"  # "bfloat16": decode in bfloat16 on CPUs that compute it natively
    weights: dict[str, WeightsSpec] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # recommended settings per variant, in words
    # what Compare and Bench select at first: the comparison a newcomer sees on the first click
    default_variants: tuple[str, ...] = ()

    @property
    def is_local(self) -> bool:
        return not _looks_like_hub_id(self.source)

    def local_path(self, ref: str | None = None) -> Path:
        """Resolve a local folder of this preset (its source, or a weights ref)."""
        return local_folder(ref or self.source)

    def guidance_for(self, variant: Variant) -> float | None:
        """The guidance scale `variant` runs with: its own, else the preset's (None: the pipeline's default)."""
        return variant.guidance if variant.guidance is not None else self.guidance

    def variant(self, name_or_slug: str) -> Variant:
        """A named variant, or a variant built from a full slug ('int8wo-tea0.3-s50')."""
        if len(name_or_slug) > MAX_SLUG_CHARS:  # refused without echoing a pasted page of text back whole
            raise PresetError(f"'{name_or_slug[:40]}…' ({len(name_or_slug):,} characters) is not a variant of preset "
                              f"'{self.name}' nor a slug: slugs are at most {MAX_SLUG_CHARS} characters, e.g. "
                              f"student-int8wo-tea0.15-s4")
        if name_or_slug in self.variants:
            return self.variants[name_or_slug]
        try:
            variant = parse_slug(name_or_slug, self.weights)
        except RecipeError as e:
            raise PresetError(f"'{name_or_slug}' is neither a variant of preset '{self.name}' "
                              f"({', '.join(self.variants)}) nor a valid slug: {e}") from None
        check_applicable(self, variant)
        return variant


def _looks_like_hub_id(source: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", source)) and not source.startswith(("assets/", "./"))


def safe_repo_path(ref: str) -> Path:
    """A path inside the repository (assets and presets live there); anything else is refused."""
    path = (REPO_ROOT / ref).resolve()
    if REPO_ROOT not in path.parents:
        raise PresetError(f"path '{ref}' leaves the project folder; local weights must live under {REPO_ROOT}")
    return path


def local_folder(ref: str) -> Path:
    """A local folder a preset names: an absolute path as written (a team's own checkpoint, named in its own
    preset file), else a path that must stay inside the project."""
    return Path(ref) if os.path.isabs(ref) else safe_repo_path(ref)


def user_presets_dir(environ=None) -> Path | None:
    """The folder STUDIO_PRESETS_DIR names (None when unset); a value that is not a folder is refused."""
    value = (os.environ if environ is None else environ).get(USER_PRESETS_VAR, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise PresetError(f"{USER_PRESETS_VAR}: '{value}' is not a folder; point it at the folder holding your "
                          "preset files (NAME.toml), or leave it unset")
    return path.resolve()


def preset_folders(environ=None) -> tuple[Path, ...]:
    """Where presets are looked up: the shipped folder, then STUDIO_PRESETS_DIR when set."""
    user = user_presets_dir(environ)
    return (PRESETS_DIR, user) if user else (PRESETS_DIR,)


def _folders(folders: Path | tuple[Path, ...] | None) -> tuple[Path, ...]:
    if folders is None:
        return preset_folders()
    return (folders,) if isinstance(folders, Path) else tuple(folders)


def list_presets(folders: Path | tuple[Path, ...] | None = None) -> list[str]:
    """Preset names: the shipped ones, then the team's own from STUDIO_PRESETS_DIR (or those in `folders`)."""
    names: dict[str, None] = {}
    for folder in _folders(folders):
        names.update(dict.fromkeys(sorted(p.stem for p in folder.glob("*.toml") if NAME_PATTERN.fullmatch(p.stem))))
    return list(names)


def is_user_preset(name: str) -> bool:
    """Whether preset `name` is one of the team's own (from STUDIO_PRESETS_DIR), not a shipped one."""
    user = user_presets_dir()
    return user is not None and name in list_presets(user)


def preset_path(name: str, folders: Path | tuple[Path, ...] | None = None) -> Path:
    """The file of preset `name`; names are plain identifiers, never paths. A name found both among the shipped
    presets and in STUDIO_PRESETS_DIR is refused: which one a link or a bench meant would be a guess."""
    folders = _folders(folders)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise PresetError(f"invalid preset name {name!r}: use lowercase letters, digits, '.', '_' or '-' "
                          f"(no paths); known presets: {', '.join(list_presets(folders))}")
    found = [folder / f"{name}.toml" for folder in folders if (folder / f"{name}.toml").is_file()]
    if not found:
        raise PresetError(f"unknown preset '{name}'; known presets: {', '.join(list_presets(folders))}")
    if len(found) > 1:
        raise PresetError(f"preset '{name}' is both a shipped preset and a file in {USER_PRESETS_VAR}; rename "
                          f"yours (e.g. '{name}-ours', with extends = \"{name}\" to start from the shipped one)")
    return found[0]


def read_preset_data(name: str, folders: Path | tuple[Path, ...] | None = None) -> dict:
    """A preset file's TOML as a dict, its chain of `extends` applied (studio.preset_extends). A chain that loops
    or runs deeper than MAX_EXTENDS fails, as does one that names an unknown preset."""
    folders = _folders(folders)
    chain, layers = [name], [_read_toml(preset_path(name, folders))]
    while "extends" in layers[-1]:
        base = layers[-1]["extends"]
        if not isinstance(base, str):
            raise PresetError(f"preset '{chain[-1]}': 'extends' must be a preset name (a string)")
        if base in chain:
            raise PresetError(f"preset '{name}': 'extends' loops ({' → '.join([*chain, base])})")
        if len(chain) > MAX_EXTENDS:
            raise PresetError(f"preset '{name}': 'extends' goes more than {MAX_EXTENDS} presets deep")
        chain.append(base)
        layers.append(_read_toml(preset_path(base, folders)))
    merged = layers[-1]
    for layer_name, layer in zip(reversed(chain[:-1]), reversed(layers[:-1]), strict=True):
        try:
            merged = merge_extended(merged, {k: v for k, v in layer.items() if k != "extends"})
        except ValueError as e:
            raise PresetError(f"preset '{layer_name}': {e}") from None
    return merged


def _read_toml(path: Path) -> dict:
    if path.stat().st_size > MAX_PRESET_BYTES:
        raise PresetError(f"preset file {path.name} is larger than {MAX_PRESET_BYTES} bytes")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:  # TOML is UTF-8 by definition; Windows Notepad's "Unicode" is UTF-16
        raise PresetError(f"preset file {path.name} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at "
                          f"{e.start}); TOML files are UTF-8: save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise PresetError(f"preset file {path.name} is not valid TOML: {e}") from None


def load_preset(name: str, folders: Path | tuple[Path, ...] | None = None) -> Preset:
    return parse_preset(read_preset_data(name, folders), name)


_TOP_KEYS = {
    "title": str, "family": str, "pipeline": str, "source": str, "revision": str, "dtype": str, "media": str,
    "steps": int, "guidance": float, "width": int, "height": int, "frames": int, "caches": list,
    "quantizations": list, "requirements": str, "download_gb": float, "teacache_coefficients": list,
    "trust_remote_code": bool, "cpu_vae_dtype": str, "weights": dict, "variants": dict, "notes": dict,
    "default_variants": list,
}
# selected at first where a preset names none (those it defines): cheap to run, each kind of speed-up once
FALLBACK_DEFAULT_VARIANTS = ("baseline", "int8", "teacache", "naive4")
_REQUIRED = ("title", "family", "pipeline", "source", "media", "steps", "width", "height")
_VARIANT_KEYS = {"weights": str, "quant": str, "quant_checkpoint": str, "cache": dict, "steps": int,
                 "scheduler": str, "schedule": str, "guidance": float, "compile": bool}
_WEIGHTS_KEYS = {"source": str, "ref": str, "revision": str, "lora_scale": float}


def _check_keys(where: str, data: dict, schema: dict) -> None:
    for key, value in data.items():
        if key not in schema:
            raise PresetError(f"{where}: unknown key '{key}'; allowed: {', '.join(schema)}")
        want = schema[key]
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if want is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise PresetError(f"{where}: '{key}' must be {want.__name__}, got {type(value).__name__}")


def _in_range(where: str, key: str, value, low, high) -> None:
    if not low <= value <= high:
        raise PresetError(f"{where}: '{key}'={value} is out of range [{low}, {high}]")


def parse_preset(data: dict, name: str) -> Preset:
    """Validate a preset's parsed TOML and build a Preset (raises PresetError)."""
    where = f"preset '{name}'"
    _check_keys(where, data, _TOP_KEYS)
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise PresetError(f"{where}: missing required key(s): {', '.join(missing)}")
    if data["media"] not in MEDIA:
        raise PresetError(f"{where}: media must be one of {', '.join(MEDIA)}")
    dtype = data.get("dtype", "float32")
    if dtype not in DTYPES:
        raise PresetError(f"{where}: dtype '{dtype}' unknown; allowed: {', '.join(DTYPES)}")
    cpu_vae_dtype = data.get("cpu_vae_dtype", "float32")
    if cpu_vae_dtype not in CPU_VAE_DTYPES:
        raise PresetError(f"{where}: cpu_vae_dtype '{cpu_vae_dtype}' unknown; allowed: {', '.join(CPU_VAE_DTYPES)}")
    _in_range(where, "steps", data["steps"], 1, 1000)
    for key in ("width", "height"):
        _in_range(where, key, data[key], 16, 4096)
    frames = data.get("frames", 1)
    _in_range(where, "frames", frames, 1, 1024)
    caches = tuple(data.get("caches", ()))
    quants = tuple(data.get("quantizations", ()))
    for c in caches:
        if c not in CACHE_KINDS:
            raise PresetError(f"{where}: unknown cache '{c}'; known: {', '.join(CACHE_KINDS)}")
    for q in quants:
        if q not in QUANT_METHODS:
            raise PresetError(f"{where}: unknown quantization '{q}'; known: {', '.join(QUANT_METHODS)}")
    coefficients = data.get("teacache_coefficients")
    if coefficients is not None and not all(isinstance(c, int | float) for c in coefficients):
        raise PresetError(f"{where}: teacache_coefficients must be a list of numbers")
    weights = {}
    for wname, spec in data.get("weights", {}).items():
        source = weights_source_of(wname)
        if source is None:
            raise PresetError(f"{where}: weights '{wname}' must be named {', '.join(WEIGHT_SOURCES[1:])}, or one of "
                              f"them followed by lowercase letters or digits (e.g. student1) for a second of a source")
        if not isinstance(spec, dict):
            raise PresetError(f"{where}: weights '{wname}' must be a table")
        _check_keys(f"{where} weights '{wname}'", spec, _WEIGHTS_KEYS)
        if spec.get("source", source) != source:
            raise PresetError(f"{where}: weights '{wname}' are '{source}' weights by their name, but say source = "
                              f"'{spec['source']}'; drop `source` or rename the table")
        try:
            weights[wname] = WeightsSpec(**{"source": source, **spec, "name": wname if wname != source else None})
        except (RecipeError, TypeError) as e:
            raise PresetError(f"{where} weights '{wname}': {e}") from None
        if not _looks_like_hub_id(weights[wname].ref):
            local_folder(weights[wname].ref)
    preset = Preset(
        name=name, title=data["title"], family=data["family"], pipeline=data["pipeline"], source=data["source"],
        revision=data.get("revision") or None, dtype=dtype, media=data["media"], steps=data["steps"],
        guidance=data.get("guidance"), width=data["width"], height=data["height"], frames=frames,
        caches=caches, quantizations=quants, requirements=data.get("requirements", ""),
        download_gb=float(data.get("download_gb", 0.0)),
        teacache_coefficients=tuple(coefficients) if coefficients else None,
        trust_remote_code=data.get("trust_remote_code", False), cpu_vae_dtype=cpu_vae_dtype, weights=weights,
        notes={k: str(v) for k, v in data.get("notes", {}).items()},
    )
    if preset.is_local:
        local_folder(preset.source)
    for vname, spec in data.get("variants", {}).items():
        if not isinstance(spec, dict):
            raise PresetError(f"{where}: variant '{vname}' must be a table")
        preset.variants[vname] = _parse_variant(preset, vname, spec)
    if "baseline" not in preset.variants:
        preset.variants["baseline"] = Variant("baseline")
    return replace(preset, default_variants=_default_variants(where, data.get("default_variants"), preset.variants))


def _default_variants(where: str, names: list | None, variants: dict[str, Variant]) -> tuple[str, ...]:
    """The preset's `default_variants` (each one it defines; the baseline first, always), or the fallback."""
    if names is None:
        chosen = [v for v in FALLBACK_DEFAULT_VARIANTS if v in variants]
        return tuple(chosen or list(variants)[:1])
    unknown = [n for n in names if n not in variants]
    if unknown or not names:
        raise PresetError(f"{where}: default_variants must name variants this preset defines; "
                          f"{'unknown: ' + ', '.join(map(str, unknown)) if unknown else 'it is empty'}; "
                          f"defined: {', '.join(variants)}")
    return tuple(dict.fromkeys(["baseline", *names]))


def _parse_variant(preset: Preset, vname: str, spec: dict) -> Variant:
    where = f"preset '{preset.name}' variant '{vname}'"
    _check_keys(where, spec, _VARIANT_KEYS)
    try:
        fields: dict = {}
        if "weights" in spec:
            if spec["weights"] not in preset.weights:
                raise PresetError(f"{where}: weights '{spec['weights']}' not defined; defined: "
                                  f"{', '.join(preset.weights) or 'none'}")
            fields["weights"] = preset.weights[spec["weights"]]
        if "quant" in spec:
            fields["quant"] = QuantSpec(spec["quant"], spec.get("quant_checkpoint"))
        if "cache" in spec:
            cache = dict(spec["cache"])
            kind = cache.pop("kind", None)
            if kind is None:
                raise PresetError(f"{where}: cache needs a 'kind' ({', '.join(CACHE_KINDS)})")
            fields["cache"] = CacheSpec(kind, None, tuple(sorted(cache.items())))
        for key in ("steps", "scheduler", "schedule", "guidance", "compile"):
            if key in spec:
                fields[key] = spec[key]
        variant = Variant(vname, **fields)
    except RecipeError as e:
        raise PresetError(f"{where}: {e}") from None
    check_applicable(preset, variant)
    return variant


def check_applicable(preset: Preset, variant: Variant) -> None:
    """Refuse caches/quantizations this preset does not support, naming what it does."""
    if variant.cache and variant.cache.kind not in preset.caches:
        raise PresetError(f"cache '{variant.cache.kind}' does not apply to preset '{preset.name}'; "
                          f"it supports: {', '.join(preset.caches) or 'no caches'}")
    if variant.quant and variant.quant.method not in preset.quantizations:
        raise PresetError(f"quantization '{variant.quant.method}' does not apply to preset '{preset.name}'; "
                          f"it supports: {', '.join(preset.quantizations) or 'none'}")
