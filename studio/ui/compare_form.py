"""The Compare page's inputs as one value, so handlers and their helpers pass a form, not eleven positional values.

The field order is the widgets' order on the page's events and the order of the `/compare` and `/share_setup` API
parameters (COMPARE_FIELDS, SETUP_FIELDS): build_demo wires the widgets by these names, so the order is written
down once. A form holds what the browser or an API caller sent, unchecked; `setup()` and `checked()` check it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from studio import pricing
from studio.inputs import InputError
from studio.presets import Preset, PresetError, load_preset
from studio.ui import links


class FormError(ValueError):
    """A form input that cannot run, with what is allowed (the page shows it as the run's refusal)."""


@dataclass(frozen=True)
class CompareForm:
    """What Compare was asked to run: preset, prompt, seed, steps (0/None: the preset's), the ticked variants and
    the custom slugs, the price per hour and LPIPS budget the readouts use, repeats, size ("": the preset's) and
    negative prompt."""

    preset: str
    prompt: str
    seed: Any = 0
    steps: Any = None
    chosen: Any = ()
    custom: str = ""
    price: Any = None
    budget: Any = None
    repeats: Any = 1
    size: str = ""
    negative: str = ""

    @classmethod
    def of(cls, *values: Any) -> CompareForm:
        """A form from widget values in COMPARE_FIELDS order (those left out take their defaults)."""
        return cls(*values[:len(COMPARE_FIELDS)])

    @classmethod
    def of_setup(cls, *values: Any) -> CompareForm:
        """A form from widget values in SETUP_FIELDS order (a shared link carries no price or budget)."""
        return cls(**dict(zip(SETUP_FIELDS, values, strict=False)))

    def setup(self, preset: Preset | None = None) -> links.Setup:
        """The checked setup (the same checks a shared link gets); raises InputError or PresetError. `preset`: the
        form's preset, when the caller has loaded it already."""
        return links.validated_setup(preset or self.preset, self.prompt, self.seed, self.steps, self.chosen,
                                     self.custom, self.repeats, self.size, self.negative)

    def checked(self, preset: Preset | None = None) -> CheckedForm:
        """The preset, setup, variants, price and budget, each checked; raises FormError saying what is wrong.
        `preset`: the form's preset, when the caller has loaded it already."""
        try:
            p = preset or load_preset(self.preset)
            setup = self.setup(p)
        except (InputError, PresetError) as e:
            raise FormError(str(e)) from None
        return CheckedForm(p, setup, tuple(p.variant(v) for v in setup.variants), price_per_hour(self.price),
                           lpips_budget(self.budget))


@dataclass(frozen=True)
class CheckedForm:
    preset: Preset
    setup: links.Setup
    variants: tuple  # studio.variant.Variant, in the setup's order
    price: float
    budget: float


COMPARE_FIELDS = tuple(f.name for f in fields(CompareForm))
SETUP_FIELDS = ("preset", "prompt", "seed", "steps", "chosen", "custom", "repeats", "size", "negative")


def price_per_hour(price) -> float:
    try:
        return pricing.check_price(price)
    except ValueError as e:
        raise FormError(f"$ per hour: {e}") from None


def lpips_budget(budget) -> float:
    try:
        value = float(budget)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= 1:  # NaN too
        raise FormError(f"the LPIPS budget must be above 0 and at most 1, got {budget!r}")
    return value
