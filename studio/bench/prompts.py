"""Prompt sets for a bench: built-in held-out sets of the embedded models, or the user's own file.

Files: `.txt` (one prompt a line), `.csv` / `.tsv` (a `prompt` column, optional `seed`), `.jsonl` (one object a
line with a `prompt` string, optional `seed`). Files are checked before anything runs: UTF-8 text (UTF-16 with a
byte-order mark, as Windows Notepad saves "Unicode", is read too), not binary,
not empty, at most MAX_FILE_BYTES, MAX_PROMPTS prompts and MAX_LINE_CHARS characters a line; every error names
the file and line. Each prompt gets a fixed seed (the file's, or `base_seed + its index`), recorded in results.

Example:
    >>> prompts = load_prompt_file(Path("my_prompts.txt"), base_seed=0)
    >>> prompts = builtin_prompt_set(load_preset("tiny-image"), "held-out", count=50)
    >>> validate_for_preset(prompts, load_preset("tiny-image"))   # embedded presets: the tiny language
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from studio.presets import Preset

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_PROMPTS = 5000
MAX_LINE_CHARS = 2000
MAX_SEED = 2**63 - 1
FILE_KINDS = (".txt", ".csv", ".tsv", ".jsonl")
BUILTIN_SETS = {
    "held-out": "held-out colour/shape/position combinations never seen in training (studio.tiny.data)",
    "examples": "the handful of example prompts shown in the app",
}


class PromptFileError(ValueError):
    """A prompt source that cannot be used; the message names the file and line and says what is allowed."""


@dataclass(frozen=True)
class BenchPrompt:
    index: int  # position in the set: the key results are stored under
    prompt: str
    seed: int
    line: int | None = None  # where it came from in a file (1-based), for error messages


@dataclass(frozen=True)
class PromptSet:
    name: str  # "held-out", "examples", a file name, or "hf:<dataset id>"
    prompts: tuple[BenchPrompt, ...]

    def head(self, count: int | None) -> PromptSet:
        """The first `count` prompts (all when None)."""
        if count is None:
            return self
        if not 1 <= count <= MAX_PROMPTS:
            raise PromptFileError(f"count must be from 1 to {MAX_PROMPTS}, got {count}")
        return PromptSet(self.name, self.prompts[:count])


# ---- built-in sets ---------------------------------------------------------------------------------------------
def builtin_set_names(preset: Preset) -> list[str]:
    """The built-in sets a preset offers: only the embedded models have a language to build prompts from."""
    return list(BUILTIN_SETS) if preset.pipeline == "tiny" else []


def builtin_prompt_set(preset: Preset, name: str, count: int = 50, seed: int = 0) -> PromptSet:
    """A built-in set; 'held-out' uses the evaluator's prompts and seeds (EVAL_SEED_OFFSET + seed*100000 + i)."""
    if name not in builtin_set_names(preset):
        known = ", ".join(builtin_set_names(preset)) or "none (bring a prompts file)"
        raise PromptFileError(f"unknown prompt set '{name}' for preset '{preset.name}'; known: {known}")
    if not 1 <= count <= MAX_PROMPTS:
        raise PromptFileError(f"count must be from 1 to {MAX_PROMPTS}, got {count}")
    from studio.tiny.data import EVAL_SEED_OFFSET, MAX_EVAL_SEED, eval_prompts
    from studio.tiny.language import EXAMPLE_IMAGE_PROMPTS, EXAMPLE_VIDEO_PROMPTS

    if not 0 <= seed <= MAX_EVAL_SEED:
        raise PromptFileError(f"seed must be from 0 to {MAX_EVAL_SEED} for a built-in prompt set, got {seed}")

    video = preset.media == "video"
    base = EVAL_SEED_OFFSET + seed * 100_000
    if name == "held-out":
        texts = eval_prompts(count, video, seed)
    else:
        texts = list(EXAMPLE_VIDEO_PROMPTS if video else EXAMPLE_IMAGE_PROMPTS)[:count]
    return PromptSet(name, tuple(BenchPrompt(i, t, base + i) for i, t in enumerate(texts)))


# ---- files -----------------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    """The file's text after the size, binary and encoding checks."""
    if not path.is_file():
        raise PromptFileError(f"prompts file '{path}' does not exist or is not a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PromptFileError(f"{path.name}: {size:,} bytes; at most {MAX_FILE_BYTES:,} bytes are allowed")
    if size == 0:
        raise PromptFileError(f"{path.name}: the file is empty; write one prompt a line")
    data = path.read_bytes()
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):  # Windows Notepad's "Unicode": UTF-16 with a BOM
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise PromptFileError(f"{path.name}: starts as UTF-16 text but does not decode as it; "
                                  f"save the file as UTF-8") from None
    if b"\x00" in data:
        raise PromptFileError(f"{path.name}: looks binary (contains NUL bytes); give a UTF-8 text file "
                              f"({', '.join(FILE_KINDS)})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise PromptFileError(f"{path.name} line {line}: not valid UTF-8 (byte 0x{data[e.start]:02x}); "
                              f"save the file as UTF-8") from None
    lines = text.splitlines()
    if len(lines) > MAX_PROMPTS + 1:  # +1: a CSV header
        raise PromptFileError(f"{path.name}: {len(lines):,} lines; at most {MAX_PROMPTS:,} prompts are allowed")
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_CHARS:
            raise PromptFileError(f"{path.name} line {number}: {len(line):,} characters; "
                                  f"at most {MAX_LINE_CHARS:,} a line")
    return text


def _seed(value, where: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not (isinstance(value, int) or text.isdigit()) or not 0 <= int(text) <= MAX_SEED:
        raise PromptFileError(f"{where}: seed {value!r} must be an integer from 0 to 2^63-1")
    return int(text)


def _prompt_text(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PromptFileError(f"{where}: the prompt is empty or not text")
    return " ".join(value.split())


def _from_txt(text: str, name: str) -> list[tuple[int, str, int | None]]:
    return [(n, " ".join(line.split()), None) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _from_table(text: str, name: str, delimiter: str, column: str) -> list[tuple[int, str, int | None]]:
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    fields = {f.strip().lower(): f for f in reader.fieldnames or [] if f}
    if column.lower() not in fields:
        raise PromptFileError(f"{name} line 1: no '{column}' column; the header has: "
                              f"{', '.join(reader.fieldnames or []) or 'nothing'}")
    prompt_key, seed_key = fields[column.lower()], fields.get("seed")
    rows = []
    try:
        for row in reader:
            where = f"{name} line {reader.line_num}"
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # blank line
            seed = row.get(seed_key) if seed_key else None
            rows.append((reader.line_num, _prompt_text(row.get(prompt_key), where),
                         _seed(seed, where) if seed not in (None, "") else None))
    except csv.Error as e:
        raise PromptFileError(f"{name} line {reader.line_num}: not valid CSV: {e}") from None
    return rows


def _from_jsonl(text: str, name: str) -> list[tuple[int, str, int | None]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise PromptFileError(f"{where}: not valid JSON ({e.msg}); write one object a line, "
                                  f'e.g. {{"prompt": "a red circle", "seed": 3}}') from None
        if not isinstance(obj, dict) or "prompt" not in obj:
            raise PromptFileError(f'{where}: needs an object with a "prompt" field, e.g. {{"prompt": "a red circle"}}')
        rows.append((n, _prompt_text(obj["prompt"], where), _seed(obj["seed"], where) if "seed" in obj else None))
    return rows


def load_prompt_file(path: Path, base_seed: int = 0, column: str = "prompt") -> PromptSet:
    """Load and check a prompts file; prompts without a seed get `base_seed + index`."""
    path = Path(path)
    kind = path.suffix.lower()
    if not path.is_file():  # said first: a missing file's name is the mistake, whatever its extension
        raise PromptFileError(f"prompts file '{path}' does not exist or is not a file")
    if kind not in FILE_KINDS:
        raise PromptFileError(f"prompts file '{path.name}': unsupported type '{kind or 'no extension'}'; "
                              f"allowed: {', '.join(FILE_KINDS)}")
    text = _read_text(path)
    if kind == ".txt":
        rows = _from_txt(text, path.name)
    elif kind == ".jsonl":
        rows = _from_jsonl(text, path.name)
    else:
        rows = _from_table(text, path.name, "\t" if kind == ".tsv" else ",", column)
    if not rows:
        raise PromptFileError(f"{path.name}: no prompts found (only blank lines or a header)")
    if len(rows) > MAX_PROMPTS:
        raise PromptFileError(f"{path.name}: {len(rows):,} prompts; at most {MAX_PROMPTS:,} are allowed")
    return PromptSet(path.name, tuple(BenchPrompt(i, text, base_seed + i if seed is None else seed, line)
                                      for i, (line, text, seed) in enumerate(rows)))


# ---- checks against a preset -------------------------------------------------------------------------------------
def validate_for_preset(prompts: PromptSet, preset: Preset) -> None:
    """Embedded presets understand only their small language: refuse prompts outside it, naming the line."""
    if preset.pipeline != "tiny":
        return
    from studio.tiny.language import PromptError, parse_prompt

    for p in prompts.prompts:
        try:
            parse_prompt(p.prompt, video=preset.media == "video")
        except PromptError as e:
            where = f"{prompts.name} line {p.line}" if p.line else f"{prompts.name} prompt {p.index + 1}"
            raise PromptFileError(f"{where} ({p.prompt[:60]!r}): {e}") from None


# ---- the Hub (only when online) ----------------------------------------------------------------------------------
def load_hub_prompts(dataset_id: str, column: str = "prompt", base_seed: int = 0,
                     cache_dir: Path | None = None) -> PromptSet:
    """Prompts from a Hub dataset repo holding a .csv/.tsv/.jsonl/.txt file (e.g. a copy of PartiPrompts).

    Downloads through huggingface_hub (never runs dataset scripts); the downloaded file goes through the same
    checks as a local one. Refused when HF_HUB_OFFLINE is set or the Hub cannot be reached.
    """
    import re

    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", dataset_id or ""):
        raise PromptFileError(f"'{dataset_id}' is not a Hub dataset id (owner/name)")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise PromptFileError(f"cannot fetch Hub dataset '{dataset_id}': HF_HUB_OFFLINE is set; download its "
                              f"prompts file and pass it with --prompts FILE")
    try:
        from huggingface_hub import hf_hub_download, list_repo_files

        files = [f for f in list_repo_files(dataset_id, repo_type="dataset") if Path(f).suffix.lower() in FILE_KINDS]
        if not files:
            raise PromptFileError(f"Hub dataset '{dataset_id}' has no {'/'.join(FILE_KINDS)} file to read prompts from")
        local = hf_hub_download(dataset_id, sorted(files)[0], repo_type="dataset", cache_dir=cache_dir)
    except PromptFileError:
        raise
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, gated: one clear line either way
        raise PromptFileError(f"cannot fetch Hub dataset '{dataset_id}': {type(e).__name__}: {e}") from None
    found = load_prompt_file(Path(local), base_seed, column)
    return PromptSet(f"hf:{dataset_id}", found.prompts)
