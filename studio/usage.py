"""Usage errors of the command-line tools: each is reported as one line with exit code 2 (studio.cli).

Here, not in studio.cli, so that the commands that raise them (bench, distill) need not import the CLI that
imports them.
"""


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


class DistillUsageError(ValueError):
    """Bad `distill` input; the CLI reports it in one line with exit code 2."""
