"""Every option of every command explains itself in --help: a newcomer reads what it does and its default."""

import argparse

import pytest

from studio.cli import build_parser
from studio.metrics.cli import build_parser as metrics_parser
from studio.tiny.autoencoder import build_parser as autoencoder_parser
from studio.tiny.train import build_parser as train_parser


def _options_without_help(parser: argparse.ArgumentParser, command: str = "") -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _options_without_help(sub, f"{command} {name}".strip())
        elif action.dest != "help" and not action.help:
            missing.append(f"{command or parser.prog} {'/'.join(action.option_strings) or action.dest}")
    return missing


@pytest.mark.parametrize("parser", [build_parser, metrics_parser, train_parser, autoencoder_parser],
                         ids=["studio", "metrics", "tiny.train", "tiny.autoencoder"])
def test_every_option_has_help(parser):
    assert _options_without_help(parser()) == []


def test_the_check_sees_a_missing_help():
    parser = argparse.ArgumentParser(prog="x")
    parser.add_subparsers().add_parser("run").add_argument("--fast")
    assert _options_without_help(parser) == ["run --fast"]


def test_shared_options_read_the_same_everywhere():
    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    helps = {name: next(a.help for a in sub._actions if "--preset" in a.option_strings)
             for name, sub in subcommands.items() if any("--preset" in a.option_strings for a in sub._actions)}
    assert {"compare", "bench", "distill", "evaluate", "region-bench"} <= set(helps)
    assert all(h.startswith("a preset name: python -m studio presets lists them") for h in helps.values()), helps
