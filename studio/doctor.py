"""`python -m studio doctor [--json] [--preset NAME]`: what this machine can run, and what is missing.

Checks, in order: settings (environment variables, and that the app's data folders can be written), hardware
(CUDA GPUs with compute capability and memory, or the CPU), which quantizations and caches run here, LPIPS
weights, disk space against a preset's download size,
Hub access (token present, never shown; offline mode; cache folder), and the versions of the key packages
against requirements.txt. Nothing is downloaded and the Hub is not contacted.

Each check has a status: ok, no (not available on this hardware, by design), info, warn (works, with a caveat)
or fail (something a user must fix). The exit code is 1 if any check failed, else 0.

Example:
    $ python -m studio doctor --preset flux1-dev
    $ python -m studio doctor --json | jq '.quantizations.fp8dqrow'
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict, dataclass
from importlib import metadata

from studio.cli_options import PRESET_HELP
from studio.config import ConfigError, Settings
from studio.presets import REPO_ROOT, Preset, load_preset

PACKAGES = ("torch", "diffusers", "transformers", "torchao", "gradio", "huggingface_hub", "safetensors", "lpips",
            "spaces")
OPTIONAL_PACKAGES = {"spaces"}  # only on Hugging Face Spaces (ZeroGPU)
GB = 1e9
STATUS_MARKS = {"ok": "[ok]  ", "no": "[--]  ", "info": "[info]", "warn": "[warn]", "fail": "[FAIL]"}


@dataclass(frozen=True)
class Check:
    section: str
    name: str
    status: str  # ok | no | info | warn | fail
    detail: str


# ---------------------------------------------------------------- individual checks


def check_settings(environ=None) -> tuple[Settings, list[Check]]:
    """The settings in force; with a bad variable, the defaults plus a failed check naming it."""
    try:
        settings = Settings.from_env(environ, check_presets=True)
    except ConfigError as e:
        return Settings(), [Check("settings", "environment", "fail", f"{e} (defaults used for the other checks)")]
    detail = (f"default preset {settings.default_preset}, listening on {settings.host}:{settings.port}, "
              f"concurrency {settings.concurrency}, memory budget "
              f"{f'{settings.memory_budget_gb:g} GB' if settings.memory_budget_gb else 'none'}"
              f"{', on a Hugging Face Space' if settings.on_spaces else ''}")
    return settings, [Check("settings", "environment", "ok", detail)]


def check_storage(settings: Settings) -> list[Check]:
    """The folders the app writes to (benches and kept comparisons; spot-check votes) can be written."""
    problems = settings.storage_problems()
    if problems:
        return [Check("settings", "storage", "fail", p) for p in problems]
    return [Check("settings", "storage", "ok", f"runs in {settings.runs_dir}, spot-check votes in "
                  f"{settings.spotcheck_db}")]


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def hardware_facts() -> dict:
    """GPUs (name, compute capability, memory) when CUDA is usable, and the CPU's cores and RAM."""
    import torch

    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            major, minor = torch.cuda.get_device_capability(index)
            gpus.append({"index": index, "name": torch.cuda.get_device_name(index),
                         "compute_capability": f"{major}.{minor}", "memory_gb": round(props.total_memory / GB, 1)})
    ram = _ram_bytes()
    from studio.engine.cpu_precision import cpu_has_native_bf16

    return {"device": "cuda" if gpus else "cpu", "gpus": gpus, "cpu_cores": _cpu_cores(),
            "ram_gb": round(ram / GB, 1) if ram else None, "torch_cuda_build": torch.version.cuda,
            "cpu_native_bf16": cpu_has_native_bf16()}


def check_hardware(facts: dict) -> list[Check]:
    checks = [Check("hardware", f"gpu {g['index']}", "ok", f"{g['name']}, compute capability "
                    f"{g['compute_capability']}, {g['memory_gb']:.1f} GB") for g in facts["gpus"]]
    ram = f"{facts['ram_gb']:.1f} GB RAM" if facts["ram_gb"] else "RAM unknown"
    cpu = f"{facts['cpu_cores']} cores, {ram}"
    cpu += (", native bfloat16 (the embedded models decode in bfloat16)" if facts["cpu_native_bf16"]
            else ", no native bfloat16 (the embedded models decode in float32)")
    if facts["gpus"]:
        checks.append(Check("hardware", "cpu", "info", cpu))
    else:
        build = f"torch built for CUDA {facts['torch_cuda_build']}" if facts["torch_cuda_build"] else "CPU-only torch"
        checks.append(Check("hardware", "cpu", "info", f"no usable CUDA GPU ({build}); {cpu}: the embedded presets "
                            "run here, Hub presets need a CUDA GPU"))
    return checks


def check_preset_fit(preset: Preset, facts: dict) -> list[Check]:
    """Whether the preset's model can run on this hardware, in the preset's own words."""
    if preset.pipeline == "tiny":  # the embedded pipeline; a local folder may hold a 12B model too
        return [Check("hardware", "preset", "ok", f"{preset.name} runs here ({preset.requirements})")]
    if not facts["gpus"]:
        return [Check("hardware", "preset", "warn", f"{preset.name} needs {preset.requirements}; this machine has "
                      "no usable CUDA GPU")]
    return [Check("hardware", "preset", "info", f"{preset.name} needs {preset.requirements}; compare with the GPU "
                  "memory above")]


def quantization_facts(device_type: str) -> dict:
    """{method: {"runs": bool, "reason": str}} for every quantization, on the first GPU or the CPU."""
    import torch

    from studio.engine.quantization import QUANT_METHODS, hardware_support

    device = torch.device("cuda", 0) if device_type == "cuda" else torch.device("cpu")
    facts = {}
    for method in QUANT_METHODS:
        if method == "prequant":  # not a method we apply: the checkpoint decides
            continue
        runs, reason = hardware_support(method, device)
        facts[method] = {"runs": runs, "reason": reason}
    return facts


def check_quantizations(facts: dict) -> list[Check]:
    try:
        import torchao  # noqa: F401 - only checking that it imports
    except ImportError as e:
        return [Check("quantization", "torchao", "fail", f"torchao does not import ({e}); pip install -r "
                      "requirements.txt")]
    return [Check("quantization", method, "ok" if f["runs"] else "no", f["reason"]) for method, f in facts.items()]


def cache_facts(preset: Preset | None) -> dict:
    """{cache kind: {"runs": bool, "reason": str, "preset": bool | None}}: caches are hooks that run on any device
    once the engine's cache module imports (it needs diffusers' hook configs)."""
    from studio.variant import CACHE_KINDS

    try:
        import studio.engine.caches  # noqa: F401 - importing proves diffusers has every hook config we use
        runs, reason = True, "runs on any device (a hook on the denoiser)"
    except ImportError as e:
        runs, reason = False, f"the engine's cache module does not import: {e}"
    return {kind: {"runs": runs, "reason": reason, "preset": (kind in preset.caches) if preset else None}
            for kind in CACHE_KINDS}


def check_caches(facts: dict, preset: Preset | None) -> list[Check]:
    checks = []
    for kind, f in facts.items():
        applies = "" if preset is None else (f"; preset {preset.name}: offered" if f["preset"]
                                             else f"; preset {preset.name}: not offered")
        checks.append(Check("caches", kind, "ok" if f["runs"] else "fail", f["reason"] + applies))
    return checks


def check_lpips() -> list[Check]:
    from studio.metrics import lpips_status

    ready, message = lpips_status()
    return [Check("metrics", "lpips", "ok" if ready else "warn",
                  message if ready else f"{message} (PSNR and SSIM still work)")]


def check_disk(preset: Preset, settings: Settings) -> tuple[dict, list[Check]]:
    """Free space in the Hub cache against the preset's full download (cached files not subtracted)."""
    from studio.hub import DISK_MARGIN_BYTES, DISK_MARGIN_FRACTION, free_bytes

    folder = settings.hub_cache
    free_gb = free_bytes(folder) / GB
    facts = {"preset": preset.name, "download_gb": preset.download_gb, "free_gb": round(free_gb, 1),
             "hub_cache": str(folder)}
    if preset.is_local:
        return facts, [Check("disk", preset.name, "ok", f"nothing to download (local model); {free_gb:.1f} GB free "
                             f"at {folder}")]
    if preset.download_gb == 0:  # e.g. a preset of yours that names no download_gb
        return facts, [Check("disk", preset.name, "info", f"download size not given (download_gb in the preset); "
                             f"{free_gb:.1f} GB free at {folder}, checked against the Hub's file sizes before "
                             "anything is fetched")]
    need_gb = preset.download_gb * (1 + DISK_MARGIN_FRACTION) + DISK_MARGIN_BYTES / GB
    if free_gb >= need_gb:
        return facts, [Check("disk", preset.name, "ok", f"download up to {preset.download_gb:.1f} GB; {free_gb:.1f} "
                             f"GB free at {folder}")]
    return facts, [Check("disk", preset.name, "warn", f"download up to {preset.download_gb:.1f} GB ({need_gb:.1f} GB "
                         f"with the margin) but only {free_gb:.1f} GB free at {folder}; fine if it is mostly cached "
                         "already, otherwise free space or set HF_HUB_CACHE to a larger disk")]


def token_source(settings: Settings) -> str | None:
    """Where a Hub token comes from ("HF_TOKEN" or "saved login"), or None. The token itself is never returned."""
    if settings.hf_token:
        return "HF_TOKEN"
    from huggingface_hub import get_token

    return "saved login (hf auth login)" if get_token() else None


def check_hub(settings: Settings, preset: Preset | None) -> tuple[dict, list[Check]]:
    source = token_source(settings)
    facts = {"token_present": source is not None, "token_source": source, "offline": settings.offline,
             "hub_cache": str(settings.hub_cache)}
    needs_hub = preset is not None and not preset.is_local
    token = Check("hub", "token", "ok" if source else ("warn" if needs_hub else "info"),
                  f"present (from {source}; not shown)" if source else
                  "none: public models only; gated ones (FLUX.1-dev, SD 3.5) need HF_TOKEN and their licence accepted")
    offline = Check("hub", "offline", "info" if settings.offline else "ok",
                    "on (STUDIO_OFFLINE/HF_HUB_OFFLINE): only models already in the cache load" if settings.offline
                    else "off: Hub models download on first use")
    cache = Check("hub", "cache", "info", f"{settings.hub_cache} (HF_HUB_CACHE / HF_HOME)")
    return facts, [token, offline, cache]


def _pins() -> dict[str, str]:
    path = REPO_ROOT / "requirements.txt"
    pins = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line)
            if match:
                pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def package_facts() -> dict:
    """{package: {"version": installed or None, "pinned": requirements.txt pin or None}}."""
    pins = _pins()
    facts = {}
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        facts[name] = {"version": version, "pinned": pins.get(name.lower().replace("_", "-"))}
    return facts


def check_packages(facts: dict) -> list[Check]:
    checks = []
    for name, f in facts.items():
        version, pinned = f["version"], f["pinned"]
        if version is None:
            status = "info" if name in OPTIONAL_PACKAGES else "fail"
            detail = ("not installed (only needed on ZeroGPU Spaces)" if name in OPTIONAL_PACKAGES
                      else f"not installed; pip install -r requirements.txt ({name}=={pinned})")
        elif pinned and version.split("+")[0] != pinned:
            status, detail = "warn", f"{version}, but requirements.txt pins {pinned}; results may differ"
        else:
            status, detail = "ok", version
        checks.append(Check("packages", name, status, detail))
    return checks


# ---------------------------------------------------------------- the report


def collect(preset_name: str | None = None, environ=None) -> dict:
    """Run every check. Raises PresetError for an unknown `preset_name` (the CLI turns it into exit code 2)."""
    settings, checks = check_settings(environ)
    preset = load_preset(preset_name or settings.default_preset)
    hardware = hardware_facts()
    quantizations = quantization_facts(hardware["device"])
    caches = cache_facts(preset)
    disk, disk_checks = check_disk(preset, settings)
    hub, hub_checks = check_hub(settings, preset)
    packages = package_facts()
    checks += (check_storage(settings) + check_hardware(hardware) + check_preset_fit(preset, hardware)
               + check_quantizations(quantizations)
               + check_caches(caches, preset)
               + check_lpips() + disk_checks + hub_checks + check_packages(packages))
    statuses = {c.status for c in checks}
    overall = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"
    return {"status": overall, "preset": preset.name, "settings": settings.public_dict(), "hardware": hardware,
            "quantizations": quantizations, "caches": caches, "disk": disk, "hub": hub, "packages": packages,
            "checks": [asdict(c) for c in checks]}


SECTION_TITLES = {"settings": "Settings", "hardware": "Hardware", "quantization": "Quantization (torchao)",
                  "caches": "Caches", "metrics": "Metrics", "disk": "Disk", "hub": "Hugging Face Hub",
                  "packages": "Packages"}


def format_checklist(report: dict) -> str:
    """The report as a readable checklist, one line per check, grouped by section."""
    lines = [f"Speed-Up Studio doctor (preset {report['preset']})"]
    section = None
    for c in report["checks"]:
        if c["section"] != section:
            section = c["section"]
            lines.append(f"\n{SECTION_TITLES.get(section, section)}")
        lines.append(f"  {STATUS_MARKS[c['status']]} {c['name']:<15} {c['detail']}")
    counts = {s: sum(c["status"] == s for c in report["checks"]) for s in ("fail", "warn")}
    lines.append(f"\nResult: {report['status']} ({counts['fail']} failed, {counts['warn']} warnings)")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check hardware, packages, LPIPS weights, disk and Hub access")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--preset", default=None, help=f"{PRESET_HELP}; its disk space and caches are checked "
                                                  "(default: $STUDIO_DEFAULT_PRESET or tiny-image)")


def run(args) -> int:
    report = collect(args.preset)
    print(json.dumps(report, indent=2) if args.json else format_checklist(report))
    sys.stdout.flush()
    return 1 if report["status"] == "fail" else 0
