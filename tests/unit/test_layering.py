"""The layering rules of ARCHITECTURE.md, enforced on the source."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "studio"
RULES = [  # (files, forbidden top-level modules)
    (["variant.py", "presets.py", "tiny/language.py"], {"torch", "diffusers", "gradio", "numpy"}),
    (["engine/*.py", "tiny/*.py", "metrics/*.py"], {"gradio"}),
    (["spotcheck/*.py"], {"gradio", "torch", "diffusers"}),  # votes and statistics: stdlib only
    (["ui/spotcheck_tab.py"], {"torch", "diffusers"}),
]


# The embedded model sits below the engine (the engine loads it; it never drives the engine), and the engine
# below the commands built on it.
STUDIO_RULES = [  # (files, forbidden studio packages)
    (["tiny/*.py"], {"engine", "bench", "ui", "cli", "distill", "spotcheck"}),
    (["engine/*.py"], {"bench", "ui", "cli", "distill", "spotcheck"}),
]


def _imports(path: Path, depth: int = 1) -> set[str]:
    """Imported module names, cut to their first `depth` dotted parts."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {".".join(a.name.split(".")[:depth]) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(".".join(node.module.split(".")[:depth]))
    return names


@pytest.mark.parametrize("patterns, forbidden", RULES)
def test_layers_never_import_what_they_must_not(patterns, forbidden):
    files = [f for p in patterns for f in ROOT.glob(p)]
    assert files
    for f in files:
        bad = _imports(f) & forbidden
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("patterns, forbidden", STUDIO_RULES)
def test_studio_packages_only_import_downwards(patterns, forbidden):
    files = [f for p in patterns for f in ROOT.glob(p)]
    assert files
    for f in files:
        bad = {m for m in _imports(f, depth=2) if m.startswith("studio.")} & {f"studio.{n}" for n in forbidden}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_no_trust_remote_code_default_and_safe_torch_load():
    for f in ROOT.rglob("*.py"):
        text = f.read_text()
        assert "trust_remote_code=True" not in text, f
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{f}: {line.strip()}"
