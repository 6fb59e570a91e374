"""`presets new`: write a preset for a team's own model that starts from a shipped one (stdlib only).

The file is a few lines with `extends` (studio.preset_extends): the base's pipeline, caches, quantizations and
recipes, the team's weights. Everything is checked before anything is written, and the written file is loaded
back; a file that would not load is removed again.

Example:
    >>> made = write_new_preset(Path("my-presets"), "our-flux", "flux1-dev", "our-org/flux-ft", revision="0123abc")
    >>> made.path.name, made.left_out
    ('our-flux.toml', ['distilled', 'turbo-lora', 'stack'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from studio.presets import (
    NAME_PATTERN,
    PRESETS_DIR,
    Preset,
    PresetError,
    _looks_like_hub_id,
    list_presets,
    load_preset,
    preset_folders,
)

MAX_TITLE = 120
TINY_PIPELINE_CLASS = "TinyDiffusionPipeline"  # what model_index.json names for a preset whose pipeline is "tiny"


@dataclass(frozen=True)
class NewPreset:
    path: Path
    preset: Preset
    left_out: list[str]  # the base's variants that run the base's other weights (its distilled checkpoints, LoRAs)


def write_new_preset(folder: Path, name: str, base: str, source: str, revision: str | None = None,
                     title: str | None = None, force: bool = False) -> NewPreset:
    """Write `folder/name.toml`: preset `base` with the model at `source` (a Hub id, or an absolute folder holding
    a saved pipeline of the base's class). Raises PresetError saying what is wrong, before writing anything."""
    if not NAME_PATTERN.fullmatch(name):
        raise PresetError(f"invalid preset name {name!r}: use lowercase letters, digits, '.', '_' or '-'")
    if name in list_presets(PRESETS_DIR):
        raise PresetError(f"'{name}' is a shipped preset's name; pick another (e.g. '{name}-ours')")
    lookup = tuple(dict.fromkeys((*preset_folders(), folder)))  # the base may be one of the team's own too
    base_preset = load_preset(base, lookup)
    _check_source(source, base_preset)
    if revision is not None and not revision.strip():
        raise PresetError("--revision is empty; give a branch, tag or commit, or leave it out")
    if title is not None and (not title.strip() or len(title) > MAX_TITLE or not title.isprintable()):
        raise PresetError(f"--title must be 1 to {MAX_TITLE} printable characters on one line (it names the model "
                          "in the app's preset list)")
    path = folder / f"{name}.toml"
    if path.exists() and not force:
        raise PresetError(f"{path} exists; pass --force to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(preset_text(base, source, revision, title or f"{base_preset.title.split(' (')[0]}: {source}"),
                    encoding="utf-8")
    try:
        made = load_preset(name, lookup)
    except PresetError:
        path.unlink()
        raise
    return NewPreset(path, made, [v for v in base_preset.variants if v not in made.variants])


def preset_text(base: str, source: str, revision: str | None, title: str) -> str:
    """The file's TOML; strings are written as JSON strings, which TOML reads as the same basic strings."""
    lines = ["# Your model, with every recipe of the shipped preset it extends (python -m studio variants).",
             "# Add [variants.NAME] tables, or [weights.lora] / [weights.distilled] for your own few-step weights.",
             f"extends = {json.dumps(base)}", f"title = {json.dumps(title)}", f"source = {json.dumps(source)}"]
    if revision:
        lines.append(f"revision = {json.dumps(revision)}")
    return "\n".join(lines) + "\n"


def _check_source(source: str, base: Preset) -> None:
    if _looks_like_hub_id(source):
        return
    folder = Path(source)
    if not folder.is_absolute():
        raise PresetError(f"--source '{source}' is neither a Hub id (org/name) nor an absolute folder")
    index = folder / "model_index.json"
    if not index.is_file():
        raise PresetError(f"--source '{source}' holds no model_index.json; give the folder a pipeline was saved to "
                          "(pipe.save_pretrained(folder))")
    try:
        saved = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
        raise PresetError(f"--source '{source}': model_index.json cannot be read ({e})") from None
    expected = TINY_PIPELINE_CLASS if base.pipeline == "tiny" else base.pipeline
    if saved != expected:
        fitting = [n for n in list_presets() if _pipeline_of(n) == saved]
        raise PresetError(f"--source '{source}' holds a {saved}, and preset '{base.name}' runs a {expected}; "
                          f"extend one that runs a {saved}" + (f" ({', '.join(fitting)})" if fitting else ""))


def _pipeline_of(name: str) -> str | None:
    try:
        pipeline = load_preset(name).pipeline
    except PresetError:
        return None
    return TINY_PIPELINE_CLASS if pipeline == "tiny" else pipeline
