"""Runtime settings from environment variables, validated once (stdlib only).

Every variable is optional; a bad value raises ConfigError naming the variable, the value and what is allowed.
The README's "Configuration" table lists them all; `python -m studio doctor` prints the values in force.

Example:
    >>> settings = Settings.from_env({"STUDIO_PORT": "8080", "HF_HUB_OFFLINE": "1"})
    >>> settings.port, settings.offline, settings.host
    (8080, True, '127.0.0.1')
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from studio.presets import (
    REPO_ROOT,
    USER_PRESETS_VAR,
    PresetError,
    list_presets,
    load_preset,
    preset_folders,
    preset_path,
)
from studio.spotcheck.store import default_db_path
from studio.storage import spaces_persistent_dir, unwritable_reason

DEFAULT_PRESET = "tiny-image"
DEFAULT_PORT = 7860
MAX_CONCURRENCY = 16
# Gradio keeps a copy of the page's component config for every browser session (about 0.5 MB for the studio
# page, measured) and drops the oldest only beyond this many; its own default, 10,000, lets a public Space grow ~5 GB.
DEFAULT_SESSION_CAPACITY = 200
MAX_SESSION_CAPACITY = 10_000
MAX_MEMORY_BUDGET_GB = 4096.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_HOST_PATTERN = re.compile(r"[A-Za-z0-9.:_-]{1,253}")


class ConfigError(ValueError):
    """An environment variable with a value that cannot be used; the message says what is allowed."""


@dataclass(frozen=True)
class Settings:
    """Settings of one process. Build with `Settings.from_env()`; fields are never changed afterwards."""

    default_preset: str = DEFAULT_PRESET
    presets_dir: Path | None = None  # STUDIO_PRESETS_DIR: the team's own presets, each checked at start
    memory_budget_gb: float | None = None  # None: no limit beyond the device's memory
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "speedup-studio")
    hf_home: Path = field(default_factory=lambda: Path.home() / ".cache" / "huggingface")
    hub_cache: Path = field(default_factory=lambda: Path.home() / ".cache" / "huggingface" / "hub")
    concurrency: int = 1
    session_capacity: int = DEFAULT_SESSION_CAPACITY  # browser sessions whose state the server keeps
    spotcheck_db: Path = field(default_factory=lambda: Path.home() / ".cache" / "speedup-studio" / "spotcheck.sqlite3")
    runs_dir: Path = field(default_factory=lambda: REPO_ROOT / ".runs")  # the app's benches (Benchmark tab)
    offline: bool = False
    hf_token: str | None = field(default=None, repr=False)  # never printed; doctor reports only its presence
    on_spaces: bool = False
    cpu_bf16: bool | None = None  # None: from the CPU flags (studio.engine.cpu_precision reads the same variable)
    cpu_threads: int | None = None  # None: half the cores (studio.engine.runner.cpu_threads reads the same variable)
    prewarm: bool = True  # load the embedded model when the app starts

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, check_presets: bool = False) -> Settings:
        """Read and validate every variable (defaults where unset). Raises ConfigError on the first bad one.

        `check_presets`: also load every preset in STUDIO_PRESETS_DIR, so that a broken file stops the app's start
        (app.py, doctor) with its reason. Off for settings read while the app runs (a preset file broken since the
        start must not stop other presets' runs; the page's list leaves it out)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home()).expanduser()
        xdg_cache = _path(env, "XDG_CACHE_HOME") or home / ".cache"
        hf_home = _path(env, "HF_HOME") or xdg_cache / "huggingface"
        on_spaces = bool(env.get("SPACE_ID"))
        folders = _preset_folders(env, check_presets)
        return cls(
            default_preset=_preset(env, folders),
            presets_dir=folders[1] if len(folders) > 1 else None,
            memory_budget_gb=_memory_budget(env),
            # Spaces route traffic to 0.0.0.0:7860; elsewhere listen on this machine only unless told otherwise.
            host=_host(env, "0.0.0.0" if on_spaces else "127.0.0.1"),
            port=_port(env),
            cache_dir=_path(env, "STUDIO_CACHE_DIR") or home / ".cache" / "speedup-studio",
            hf_home=hf_home,
            hub_cache=_path(env, "HF_HUB_CACHE") or _path(env, "HUGGINGFACE_HUB_CACHE") or hf_home / "hub",
            concurrency=_int(env, "STUDIO_CONCURRENCY", 1, 1, MAX_CONCURRENCY),
            session_capacity=_int(env, "STUDIO_SESSION_CAPACITY", DEFAULT_SESSION_CAPACITY, 1, MAX_SESSION_CAPACITY),
            spotcheck_db=(_path(env, "STUDIO_SPOTCHECK_DB")
                          or default_db_path({**env, "XDG_CACHE_HOME": str(xdg_cache)})),  # the CLI's default too
            runs_dir=_path(env, "STUDIO_RUNS_DIR") or _default_runs_dir(env),
            offline=_flag(env, "STUDIO_OFFLINE") or _flag(env, "HF_HUB_OFFLINE"),
            hf_token=(env.get("HF_TOKEN") or "").strip() or None,
            on_spaces=on_spaces,
            cpu_bf16=optional_flag(env, "STUDIO_CPU_BF16"),
            cpu_threads=cpu_threads_setting(env),
            prewarm=optional_flag(env, "STUDIO_PREWARM") is not False,
        )

    def storage_problems(self) -> list[str]:
        """What stops the app from keeping its data (benches, kept comparisons, spot-check votes): each names its
        variable, the folder and the reason. Checked at the start, where a typo costs nothing yet."""
        problems = []
        for variable, folder in (("STUDIO_RUNS_DIR", self.runs_dir), ("STUDIO_SPOTCHECK_DB", self.spotcheck_db.parent)):
            reason = unwritable_reason(folder)
            if reason:
                problems.append(f"{variable}: cannot write in '{folder}' ({reason}); set it to a folder this user "
                                f"can write")
        return problems

    def public_dict(self) -> dict:
        """Every setting as JSON-ready values, the token replaced by whether one is set."""
        return {
            "default_preset": self.default_preset, "presets_dir": str(self.presets_dir) if self.presets_dir else None,
            "memory_budget_gb": self.memory_budget_gb, "host": self.host,
            "port": self.port, "cache_dir": str(self.cache_dir), "hf_home": str(self.hf_home),
            "hub_cache": str(self.hub_cache), "concurrency": self.concurrency,
            "session_capacity": self.session_capacity, "spotcheck_db": str(self.spotcheck_db),
            "runs_dir": str(self.runs_dir),
            "offline": self.offline, "hf_token_set": self.hf_token is not None, "on_spaces": self.on_spaces,
            "cpu_bf16": "auto" if self.cpu_bf16 is None else self.cpu_bf16,
            "cpu_threads": "auto" if self.cpu_threads is None else self.cpu_threads,
            "prewarm": self.prewarm,
        }


def optional_flag(env: Mapping[str, str], name: str) -> bool | None:
    """A yes/no variable that may be left unset (None: the caller decides), e.g. STUDIO_CPU_BF16."""
    return _flag(env, name) if env.get(name, "").strip() else None


MAX_CPU_THREADS = 1024


def cpu_threads_setting(env: Mapping[str, str]) -> int | None:
    """STUDIO_CPU_THREADS: torch CPU threads for generation, or None when unset (the engine picks)."""
    return _int(env, "STUDIO_CPU_THREADS", None, 1, MAX_CPU_THREADS)


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r} is not a yes/no value; use 1/true/yes/on or 0/false/no/off")


def _int(env: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not an integer; use a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range; use a whole number from {low} to {high}")
    return value


def _default_runs_dir(env: Mapping[str, str]) -> Path:
    """Benches must outlive a restart: on a Space with persistent storage keep them there, else in the checkout."""
    persistent = spaces_persistent_dir(env)
    return persistent / "runs" if persistent is not None else REPO_ROOT / ".runs"


def _path(env: Mapping[str, str], name: str) -> Path | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if name != "STUDIO_SPOTCHECK_DB" and path.exists() and not path.is_dir():
        raise ConfigError(f"{name}={text!r} exists and is not a folder; point it at a folder (created if missing)")
    if name == "STUDIO_SPOTCHECK_DB" and path.is_dir():
        raise ConfigError(f"{name}={text!r} is a folder; point it at a database file such as {path}/spotcheck.sqlite3")
    return path


def _preset_folders(env: Mapping[str, str], check_presets: bool) -> tuple[Path, ...]:
    """The preset folders; with `check_presets`, every preset in STUDIO_PRESETS_DIR loaded once."""
    try:
        folders = preset_folders(env)
        for name in list_presets(folders[1:]) if check_presets else ():
            load_preset(name, folders)
    except PresetError as e:
        raise ConfigError(str(e) if str(e).startswith(USER_PRESETS_VAR) else f"{USER_PRESETS_VAR}: {e}") from None
    return folders


def _preset(env: Mapping[str, str], folders: tuple[Path, ...]) -> str:
    name = env.get("STUDIO_DEFAULT_PRESET", "").strip() or DEFAULT_PRESET
    try:
        preset_path(name, folders)
    except PresetError as e:
        raise ConfigError(f"STUDIO_DEFAULT_PRESET: {e}") from None
    return name


def _memory_budget(env: Mapping[str, str]) -> float | None:
    return memory_budget_gb(env.get("STUDIO_MEMORY_BUDGET_GB", ""), "STUDIO_MEMORY_BUDGET_GB")


def memory_budget_gb(text: str, what: str) -> float | None:
    """A memory budget in GB from text (empty: no budget); `what` names the variable or flag in the error."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_MEMORY_BUDGET_GB:  # also refuses nan and inf
        raise ConfigError(f"{what}={text!r} is not a usable size; use a number of GB greater "
                          f"than 0 and at most {MAX_MEMORY_BUDGET_GB:g} (e.g. 40), or leave it unset for no limit")
    return value


def _host(env: Mapping[str, str], default: str) -> str:
    for name in ("STUDIO_HOST", "GRADIO_SERVER_NAME"):
        text = env.get(name, "").strip()
        if text:
            if not _HOST_PATTERN.fullmatch(text):
                raise ConfigError(f"{name}={text!r} is not a host name or IP address; use e.g. 127.0.0.1 "
                                  "(this machine only) or 0.0.0.0 (all interfaces)")
            return text
    return default


def _port(env: Mapping[str, str]) -> int:
    name = "STUDIO_PORT" if env.get("STUDIO_PORT", "").strip() else "GRADIO_SERVER_PORT"
    return _int(env, name, DEFAULT_PORT, 1, 65535)
