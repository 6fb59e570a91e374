"""Options shared by several subcommands, so each reads and explains them the same way in --help."""
from __future__ import annotations

PRESET_HELP = "a preset name: python -m studio presets lists them (yours too, from $STUDIO_PRESETS_DIR)"


def add_preset(parser, default: str | None = None) -> None:
    if default is None:
        parser.add_argument("--preset", required=True, help=PRESET_HELP)
    else:
        parser.add_argument("--preset", default=default, help=f"{PRESET_HELP} (default: {default})")


def add_seed(parser, help: str = "the generator seed: the same seed gives the same noise to every variant") -> None:
    parser.add_argument("--seed", type=int, default=0, help=f"{help} (default: 0)")


def add_json(parser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON instead of a table")
