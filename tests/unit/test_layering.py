"""The layering rules of ARCHITECTURE.md, enforced on the source."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "studio"
_ENGINE_UP = {"studio.bench", "studio.ui", "studio.cli", "studio.distill", "studio.spotcheck"}
RULES = [  # (files, forbidden modules: a name forbids it and everything under it)
    (["variant.py", "presets.py", "tiny/language.py"], {"torch", "diffusers", "gradio", "numpy"}),
    (["engine/*.py", "tiny/*.py", "metrics/*.py"], {"gradio"}),
    (["spotcheck/*.py"], {"gradio", "torch", "diffusers"}),  # votes and statistics: stdlib only
    (["ui/spotcheck_tab.py"], {"torch", "diffusers"}),
    # pure UI helpers the CLI uses too (compare's report.html): no gradio, no model work
    (["ui/readouts.py", "ui/compare_report.py", "ui/compare_history.py", "ui/links.py"], {"gradio", "torch"}),
    # The embedded model sits below the engine (the engine loads it; it never drives the engine), and the
    # engine below the commands built on it.
    (["tiny/*.py"], {"studio.engine"} | _ENGINE_UP),
    (["engine/*.py"], _ENGINE_UP),
]


def _imports(path: Path) -> set[str]:
    """Absolute module names the file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("patterns, forbidden", RULES)
def test_layers_never_import_what_they_must_not(patterns, forbidden):
    files = [f for p in patterns for f in ROOT.glob(p)]
    assert files
    for f in files:
        bad = {m for m in _imports(f) if any(m == x or m.startswith(x + ".") for x in forbidden)}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_no_trust_remote_code_default_and_safe_torch_load():
    for f in ROOT.rglob("*.py"):
        text = f.read_text()
        assert "trust_remote_code=True" not in text, f
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{f}: {line.strip()}"
