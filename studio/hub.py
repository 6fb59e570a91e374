"""Hugging Face Hub access: fetch only the files a preset needs, after checking the download can succeed.

Before any large download, `fetch` asks the Hub for the repo's file list with sizes (one small API call, plus
`model_index.json` for a pipeline) and checks in turn: the network answers, the repo exists, it is not gated for
this token, the revision exists, and the cache disk has room for the missing files plus a margin. Each failure
is a HubError that says what happened and what to do. Offline (STUDIO_OFFLINE or HF_HUB_OFFLINE) only the local
cache is used. HF_TOKEN (or a saved `hf auth login`) is passed to every call and never printed.

Example:
    >>> path = fetch("black-forest-labs/FLUX.1-schnell", "main", Needs("denoiser", "transformer"))
    >>> sorted(p.name for p in (path / "transformer").iterdir())[:1]
    ['config.json']
"""

from __future__ import annotations

import glob
import importlib
import json
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, get_token, hf_hub_download, snapshot_download, try_to_load_from_cache
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name

from studio.config import Settings

GB = 1e9  # decimal, as the Hub shows file sizes
DISK_MARGIN_FRACTION = 0.10  # room for temporary .incomplete files and filesystem overhead
DISK_MARGIN_BYTES = int(1 * GB)
CONFIG_SUFFIXES = (".json", ".txt", ".model", ".tiktoken", ".jinja")  # configs, tokenizers, chat templates
WEIGHTS_SUFFIX = ".safetensors"  # the only weights format we load (no pickles, no .bin)
# diffusers' precision variants ("diffusion_pytorch_model.fp16.safetensors"): the engine loads without `variant`,
# so these are duplicates it never reads.
_VARIANT_FILE = re.compile(r"\.(fp16|bf16|fp32|fp8|non_ema|ema)(?=[.-])")
TOKEN_HELP = "create a read token at https://huggingface.co/settings/tokens and set HF_TOKEN=<token>"


class HubError(RuntimeError):
    """A Hub download that cannot happen; the message says what happened and what to do."""


@dataclass(frozen=True)
class Needs:
    """Which files of a repo the engine reads: a whole diffusers `pipeline`, one `denoiser` subfolder, or a `lora`."""

    kind: str  # "pipeline" | "denoiser" | "lora"
    subfolder: str | None = None  # the denoiser's folder: "transformer" or "unet"

    def __post_init__(self):
        if self.kind not in ("pipeline", "denoiser", "lora"):
            raise ValueError(f"unknown Needs kind '{self.kind}'; known: pipeline, denoiser, lora")
        if (self.kind == "denoiser") != bool(self.subfolder):
            raise ValueError("Needs('denoiser', subfolder) needs a subfolder; the other kinds take none")


PIPELINE = Needs("pipeline")
LORA = Needs("lora")


@dataclass(frozen=True)
class DownloadPlan:
    """What `fetch` would download: the selected files with their sizes, and how much is not cached yet."""

    repo_id: str
    revision: str
    commit: str | None
    files: tuple[tuple[str, int], ...]  # (path in the repo, bytes)
    missing_bytes: int
    gated: bool

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


# ---------------------------------------------------------------- which files


def _suffix_ok(name: str) -> bool:
    return name.endswith(CONFIG_SUFFIXES) or name.endswith(WEIGHTS_SUFFIX)


def _drop_precision_variants(names: list[str]) -> list[str]:
    """Drop fp16/bf16 duplicates in folders that also hold the plain weights (keep them where they are all)."""
    plain_folders = {n.rpartition("/")[0] for n in names
                     if n.endswith(WEIGHTS_SUFFIX) and not _VARIANT_FILE.search(n.rpartition("/")[2])}
    return [n for n in names
            if not (_VARIANT_FILE.search(n.rpartition("/")[2]) and n.rpartition("/")[0] in plain_folders)]


def pipeline_components(model_index: dict) -> list[str]:
    """Component folders a diffusers pipeline loads: model_index.json entries like "vae": ["diffusers", "..."]."""
    return [key for key, value in model_index.items()
            if not key.startswith("_") and isinstance(value, list) and len(value) == 2 and None not in value]


def select_files(names: Iterable[str], needs: Needs, model_index: dict | None = None) -> list[str]:
    """The repo files the engine will read for `needs`: configs, tokenizers and safetensors weights only.

    A pipeline takes model_index.json and the folders it names (not the root-level single-file checkpoints or
    extra folders such as onnx exports); a denoiser takes its subfolder; a LoRA its top-level .safetensors.
    """
    names = sorted(names)
    if needs.kind == "pipeline":
        folders = set(pipeline_components(model_index or {}))
        chosen = [n for n in names if n == "model_index.json"
                  or ("/" in n and n.split("/", 1)[0] in folders and _suffix_ok(n))]
    elif needs.kind == "denoiser":
        chosen = [n for n in names if n.startswith(f"{needs.subfolder}/") and _suffix_ok(n)]
    else:
        chosen = [n for n in names if "/" not in n and n.endswith(WEIGHTS_SUFFIX)]
    return _drop_precision_variants(chosen)


# ---------------------------------------------------------------- errors


def _network_errors() -> tuple[type[BaseException], ...]:
    """Transport-level failures of whichever HTTP library this huggingface_hub uses (plus the stdlib ones)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]  # OfflineModeIsEnabled is a ConnectionError
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests", "ConnectionError"), ("requests", "Timeout")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _offline_help(settings: Settings) -> str:
    return (f"run once with network access to fill the cache ({settings.hub_cache}), or point HF_HUB_CACHE at a "
            "cache that has it")


def gated_error(repo_id: str, token_set: bool) -> HubError:
    page = f"https://huggingface.co/{repo_id}"
    if token_set:
        return HubError(f"'{repo_id}' is a gated model and the Hugging Face token in use has no access; open "
                        f"{page}, accept its licence with the account that owns HF_TOKEN, then retry")
    return HubError(f"'{repo_id}' is a gated model; accept the licence at {page} and then {TOKEN_HELP}")


def explain(error: BaseException, repo_id: str, revision: str | None, settings: Settings,
            token_set: bool) -> HubError:
    """Turn a huggingface_hub or network exception into a HubError that says what to do."""
    page = f"https://huggingface.co/{repo_id}"
    at = f" at revision '{revision}'" if revision else ""
    if isinstance(error, GatedRepoError):  # before RepositoryNotFoundError: it is a subclass
        return gated_error(repo_id, token_set)
    if isinstance(error, RepositoryNotFoundError):
        hint = ("check the id in the preset, and if the repo is private, that the account of HF_TOKEN can read it"
                if token_set else
                f"check the id in the preset; if it is private or gated, {TOKEN_HELP} (and accept its licence at "
                f"{page})")
        return HubError(f"model repository '{repo_id}' was not found on the Hub; {hint}")
    if isinstance(error, RevisionNotFoundError):
        return HubError(f"'{repo_id}' has no revision '{revision}'; set the preset's revision to a branch, tag or "
                        f"commit listed at {page}/tree/main")
    if isinstance(error, DisabledRepoError):
        return HubError(f"'{repo_id}' has been disabled on the Hub; pick another model in the preset")
    if isinstance(error, LocalEntryNotFoundError):
        why = "offline mode is on (STUDIO_OFFLINE or HF_HUB_OFFLINE)" if settings.offline else "the Hub is unreachable"
        return HubError(f"'{repo_id}'{at} is not in the local Hugging Face cache and {why}; "
                        f"{_offline_help(settings)}")
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status == 401:
            return HubError(f"the Hub refused the Hugging Face token (HTTP 401) for '{repo_id}'; it is invalid or "
                            f"expired: {TOKEN_HELP}")
        detail = getattr(error, "server_message", None) or str(error).splitlines()[0]
        return HubError(f"the Hub answered HTTP {status} for '{repo_id}' ({detail}); retry later, or check "
                        "https://status.huggingface.co")
    if isinstance(error, _network_errors()):
        if settings.offline or "offline mode" in str(error).lower():
            return HubError(f"'{repo_id}'{at} cannot be looked up: offline mode is on (STUDIO_OFFLINE or "
                            f"HF_HUB_OFFLINE) and it is not cached; unset it or {_offline_help(settings)}")
        return HubError(f"cannot reach the Hugging Face Hub to get '{repo_id}' ({type(error).__name__}: "
                        f"{str(error)[:200]}); check the network or proxy (HTTPS_PROXY), or set HF_HUB_OFFLINE=1 to "
                        "use only models already in the cache")
    return HubError(f"downloading '{repo_id}' failed: {type(error).__name__}: {error}")


def _guarded(call: Callable, repo_id: str, revision: str | None, settings: Settings, token_set: bool):
    """Run one huggingface_hub call, translating every Hub/network failure into a HubError."""
    try:
        return call()
    except HubError:
        raise
    except (HfHubHTTPError, LocalEntryNotFoundError, *_network_errors()) as e:
        raise explain(e, repo_id, revision, settings, token_set) from e


# ---------------------------------------------------------------- checks, then download


def resolve_token(settings: Settings) -> str | None:
    """HF_TOKEN from the settings, else a token saved by `hf auth login`; None for anonymous access."""
    return settings.hf_token or get_token()


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds `folder` (its nearest existing parent if it does not exist yet)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_disk(plan: DownloadPlan, cache: Path) -> None:
    """Raise HubError unless the disk holding `cache` has room for the plan's missing files plus the margin."""
    if plan.missing_bytes == 0:
        return
    need = int(plan.missing_bytes * (1 + DISK_MARGIN_FRACTION)) + DISK_MARGIN_BYTES
    free = free_bytes(cache)
    if free < need:
        raise HubError(f"not enough disk space for '{plan.repo_id}': {plan.missing_bytes / GB:.1f} GB still to "
                       f"download (plus a {DISK_MARGIN_FRACTION:.0%} + {DISK_MARGIN_BYTES / GB:.0f} GB margin = "
                       f"{need / GB:.1f} GB) but only {free / GB:.1f} GB is free at {cache}; free some space or "
                       "set HF_HUB_CACHE to a folder on a larger disk")


def _read_model_index(repo_id: str, commit: str, settings: Settings, token: str | None) -> dict:
    path = _guarded(lambda: hf_hub_download(repo_id, "model_index.json", revision=commit,
                                            cache_dir=settings.hub_cache, token=token),
                    repo_id, commit, settings, token is not None)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise HubError(f"'{repo_id}' has an unreadable model_index.json ({e}); is it a diffusers pipeline?") from None


def plan_download(repo_id: str, revision: str | None, needs: Needs, settings: Settings | None = None) -> DownloadPlan:
    """Ask the Hub (small requests only) what `fetch` would download, refusing what cannot succeed."""
    settings = settings or Settings.from_env()
    revision = revision or "main"
    token = resolve_token(settings)
    guard = lambda call: _guarded(call, repo_id, revision, settings, token is not None)
    api = HfApi()
    info = guard(lambda: api.model_info(repo_id, revision=revision, files_metadata=True, token=token))
    gated = bool(getattr(info, "gated", False))
    if gated and token is None:
        raise gated_error(repo_id, token_set=False)
    if gated:
        guard(lambda: api.auth_check(repo_id, token=token))
    sizes = {s.rfilename: int(s.size or 0) for s in (info.siblings or [])}
    commit = getattr(info, "sha", None)
    model_index = None
    if needs.kind == "pipeline":
        if "model_index.json" not in sizes:
            raise HubError(f"'{repo_id}' has no model_index.json, so it is not a diffusers pipeline; set the preset's "
                           "source to a repo in the diffusers layout")
        model_index = _read_model_index(repo_id, commit or revision, settings, token)
    names = select_files(sizes, needs, model_index)
    if not any(n.endswith(WEIGHTS_SUFFIX) for n in names):
        where = {"pipeline": "in the folders its model_index.json names", "denoiser": f"in '{needs.subfolder}/'",
                 "lora": "at its top level"}[needs.kind]
        raise HubError(f"'{repo_id}' has no .safetensors weights {where}; only safetensors are loaded (never "
                       "pickled .bin/.ckpt files), so pick a repo that has them")
    missing = sum(sizes[n] for n in names if not _cached(repo_id, n, commit, settings))
    return DownloadPlan(repo_id, revision, commit, tuple((n, sizes[n]) for n in names), missing, gated)


def _cached(repo_id: str, name: str, commit: str | None, settings: Settings) -> bool:
    if commit is None:
        return False
    return isinstance(try_to_load_from_cache(repo_id, name, cache_dir=settings.hub_cache, revision=commit), str)


def cached_snapshot(repo_id: str, revision: str | None, needs: Needs, settings: Settings) -> Path:
    """The cached snapshot folder of `repo_id` at `revision` (a branch, tag or commit), without any network call.

    Raises HubError if it is not cached or lacks the weights `needs` asks for (an interrupted download).
    """
    revision = revision or "main"
    storage = Path(settings.hub_cache) / repo_folder_name(repo_id=repo_id, repo_type="model")
    ref = storage / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    folder = storage / "snapshots" / commit
    if not folder.is_dir():
        raise explain(LocalEntryNotFoundError(str(folder)), repo_id, revision, settings, False)
    model_index = None
    if needs.kind == "pipeline" and (folder / "model_index.json").is_file():
        model_index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    if not any(n.endswith(WEIGHTS_SUFFIX) for n in select_files(names, needs, model_index)):
        raise HubError(f"the cached copy of '{repo_id}' at {folder} has no .safetensors weights for a {needs.kind} "
                       f"(an interrupted download?); {_offline_help(settings)}")
    return folder


def fetch(repo_id: str, revision: str | None, needs: Needs, settings: Settings | None = None,
          log: Callable[[str], None] | None = None) -> Path:
    """A local snapshot folder of `repo_id` holding what `needs` asks for, downloading only missing files.

    Checks first (see the module docstring) and raises HubError with what to do. Offline, only the cache is used.
    """
    settings = settings or Settings.from_env()
    revision = revision or "main"
    if settings.offline:
        return cached_snapshot(repo_id, revision, needs, settings)
    token = resolve_token(settings)
    say = log or (lambda message: None)
    plan = plan_download(repo_id, revision, needs, settings)
    check_disk(plan, settings.hub_cache)
    if plan.missing_bytes:
        say(f"downloading {plan.missing_bytes / GB:.2f} GB of '{repo_id}' ({len(plan.files)} files) "
            f"into {settings.hub_cache}")
    # The branch name, not the commit: snapshot_download then records refs/<branch>, so offline runs find it later.
    path = _guarded(lambda: snapshot_download(repo_id, revision=revision, cache_dir=settings.hub_cache, token=token,
                                              allow_patterns=[glob.escape(name) for name, _ in plan.files]),
                    repo_id, revision, settings, token is not None)
    return Path(path)
