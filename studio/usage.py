"""Errors of bad input: the command-line tools report each as one line with exit code 2 (studio.cli), the page
as a message.

Here, at the bottom of the house, so that what raises them (bench, distill, the input and size checks) need not
import the CLI or the engine.
"""


class InputError(ValueError):
    """A user input that cannot be run; the message says what is wrong and what is allowed."""


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


class DistillUsageError(ValueError):
    """Bad `distill` input; the CLI reports it in one line with exit code 2."""
