"""Read the outputs a spot-check session is built from: compare folders (report.json) and bench output folders.

Every output is (variant, prompt, seed, one media file). Media must lie inside the folder that names it, so a
crafted report cannot make the rating page serve an arbitrary file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from studio.spotcheck.store import SpotcheckError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_EXTS = (".mp4", ".webm")
MAX_REPORT_BYTES = 20_000_000
MAX_REPORTS = 2000
BENCH_RESULTS = "bench.jsonl"  # written by `python -m studio bench --out DIR`


@dataclass(frozen=True)
class Output:
    variant: str  # the variant's name in its report ("baseline", "teacache", ...)
    kind: str  # "baseline" marks the reference of the default pairs
    prompt: str
    seed: int
    media: str  # absolute path
    media_kind: str  # "image" or "video"


def _media_kind(path: str) -> str | None:
    ext = Path(path).suffix.lower()
    return "video" if ext in VIDEO_EXTS else "image" if ext in IMAGE_EXTS else None


def _resolve_media(folder: Path, name: str, where: str) -> Path:
    """The media file inside `folder`: the path as written (absolute, relative to the folder, or relative to the
    current directory), else the same file name in the folder (the report may have moved with its media)."""
    root = folder.resolve()
    candidates = [root / name, Path(name), root / Path(name).name]
    for c in candidates:
        c = c.resolve()
        if c.is_file() and c.is_relative_to(root):
            return c
    raise SpotcheckError(f"{where}: media '{name}' not found inside '{folder}' (media must lie in the report's folder)")


def _pick_media(folder: Path, media: object, where: str) -> tuple[Path, str] | None:
    """A report lists a video's MP4 and a PNG strip of its frames: raters watch the video."""
    if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
        raise SpotcheckError(f"{where}: 'media' must be a list of file paths")
    kinds = [(m, _media_kind(m)) for m in media]
    for wanted in ("video", "image"):
        for m, k in kinds:
            if k == wanted:
                return _resolve_media(folder, m, where), k
    return None


def _read_json(path: Path) -> object:
    if path.stat().st_size > MAX_REPORT_BYTES:
        raise SpotcheckError(f"'{path}' is larger than {MAX_REPORT_BYTES // 1_000_000} MB; not a studio report")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SpotcheckError(f"'{path}' is not valid JSON: {e}") from None


def _check_prompt_seed(prompt: object, seed: object, where: str) -> tuple[str, int]:
    if not isinstance(prompt, str) or not prompt.strip():
        raise SpotcheckError(f"{where}: 'prompt' must be a non-empty string")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SpotcheckError(f"{where}: 'seed' must be an integer from 0 to 2^63-1")
    return prompt, seed


def read_compare_report(path: Path) -> list[Output]:
    """Outputs of one `python -m studio compare` folder; failed variants (error, no media) are left out."""
    report = _read_json(path)
    where = str(path)
    if not isinstance(report, dict) or not isinstance(report.get("variants"), list):
        raise SpotcheckError(f"{where}: not a compare report (expected an object with a 'variants' list)")
    prompt, seed = _check_prompt_seed(report.get("prompt"), report.get("seed"), where)
    outputs = []
    for i, v in enumerate(report["variants"]):
        vwhere = f"{where}: variants[{i}]"
        if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not v["name"].strip():
            raise SpotcheckError(f"{vwhere} must be an object with a non-empty 'name'")
        if v.get("error"):
            continue
        picked = _pick_media(path.parent, v.get("media", []), vwhere)
        if picked:
            outputs.append(Output(v["name"], str(v.get("kind", "")), prompt, seed, str(picked[0]), picked[1]))
    return outputs


def read_bench_results(path: Path) -> list[Output]:
    """Outputs of a bench folder's bench.jsonl: one JSON object per line with prompt, seed, variant name
    (`variant` or `name`), `kind`, and `media` (paths relative to the folder). Rows with an error or without
    media are left out, and so is a torn last line (a killed bench never acknowledged it)."""
    if path.stat().st_size > MAX_REPORT_BYTES * 10:
        raise SpotcheckError(f"'{path}' is larger than {MAX_REPORT_BYTES * 10 // 1_000_000} MB")
    data = path.read_bytes()
    try:
        text = data[: data.rfind(b"\n") + 1].decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpotcheckError(f"'{path}' is not UTF-8 text: {e}") from None
    outputs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SpotcheckError(f"{where}: not valid JSON: {e}") from None
        if not isinstance(row, dict):
            raise SpotcheckError(f"{where}: expected a JSON object")
        if row.get("error"):
            continue
        name = row.get("variant", row.get("name"))
        if not isinstance(name, str) or not name.strip():
            raise SpotcheckError(f"{where}: 'variant' must be a non-empty string")
        prompt, seed = _check_prompt_seed(row.get("prompt"), row.get("seed"), where)
        media = row.get("media", [])
        picked = _pick_media(path.parent, [media] if isinstance(media, str) else media, where)
        if picked:
            kind = row.get("kind") or ("baseline" if name == "baseline" else "")
            outputs.append(Output(name, str(kind), prompt, seed, str(picked[0]), picked[1]))
    return outputs


def read_outputs(folder: str | Path) -> list[Output]:
    """All outputs under a compare folder, a bench folder, or a folder of compare folders (searched recursively)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpotcheckError(f"--from '{folder}' is not a folder; give a `python -m studio compare --out` folder "
                             "or a bench output folder")
    if (folder / "report.json").is_file():
        return read_compare_report(folder / "report.json")
    if (folder / BENCH_RESULTS).is_file():
        return read_bench_results(folder / BENCH_RESULTS)
    reports = sorted(folder.rglob("report.json"))
    if len(reports) > MAX_REPORTS:
        raise SpotcheckError(f"'{folder}' holds {len(reports)} report.json files; at most {MAX_REPORTS}")
    if not reports:
        raise SpotcheckError(f"no report.json or {BENCH_RESULTS} in '{folder}'; give a "
                             "`python -m studio compare --out` folder, a folder of them, or a bench output folder")
    return [o for r in reports for o in read_compare_report(r)]
