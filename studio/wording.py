"""Small wording helpers shared by the UI, the CLI and the reports (stdlib only)."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 variant', '3 variants', '0 prompts': a count with its noun in the right number.

    Example: counted(2, "prompt/seed pair") == "2 prompt/seed pairs".
    """
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
