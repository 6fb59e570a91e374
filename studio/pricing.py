"""Hourly hardware prices that turn seconds into a cost per 1,000 generations: one table for the page and the bench.

Defaults are Hugging Face Spaces list prices (huggingface.co/docs/hub/spaces-gpus, 2025), where the studio is
hosted; every surface lets the user give the price they pay instead (the page's "$ per hour", `--gpu-price`).

Example:
    >>> price_for("NVIDIA H100 80GB HBM3")
    (4.5, 'default table (Nvidia H100)')
    >>> round(cost_per_1000(0.5, 4.5), 4)
    0.625
"""

from __future__ import annotations

import math

PRICES = {  # USD per hour
    "CPU": 0.03,  # Spaces' "CPU Upgrade"
    "Nvidia T4": 0.40,
    "Nvidia L4": 0.80,
    "Nvidia A10G": 1.00,
    "Nvidia L40S": 1.80,
    "Nvidia A100": 2.50,
    "Nvidia H100": 4.50,
}
DEFAULT_GPU = "Nvidia H100"
MAX_PRICE = 1000.0


def cost_per_1000(seconds: float, price_per_hour: float) -> float:
    """Dollars for 1,000 generations at `seconds` each on hardware costing `price_per_hour`."""
    return 1000 * seconds * price_per_hour / 3600


def check_price(price) -> float:
    """A price per hour from 0 to MAX_PRICE USD, or ValueError saying what is allowed."""
    if isinstance(price, bool) or not isinstance(price, int | float) or math.isnan(price) \
            or not 0 <= price <= MAX_PRICE:
        raise ValueError(f"the price must be from 0 to {MAX_PRICE:g} USD per hour, got {price!r}")
    return float(price)


def row_for(device: str) -> str | None:
    """The table's row for a device name such as 'cpu' or 'NVIDIA H100 80GB HBM3', or None if it has none."""
    for name in sorted(PRICES, key=len, reverse=True):  # "Nvidia L40S" before a shorter name it could contain
        chip = name.split()[-1].lower()
        if (device.lower() == "cpu") if chip == "cpu" else chip in device.lower():
            return name
    return None


def row_or_default(device: str) -> str:
    """The table's row for `device`, else the default GPU's: what the Compare page and `compare` price at."""
    return row_for(device) or DEFAULT_GPU


def price_for(device: str, override: float | None = None) -> tuple[float | None, str]:
    """(USD per hour or None, where it came from) for a device name such as 'cpu' or 'NVIDIA H100 80GB HBM3'.

    A device the table does not know gets None (costs are then left blank) and a source that says how to set it:
    a bench must not fail after its last run for want of a price.
    """
    if override is not None:
        return check_price(override), "given"
    name = row_for(device)
    if name is not None:
        return PRICES[name], f"default table ({name})"
    return None, f"no default price for device '{device}': give one (--gpu-price); known: {', '.join(PRICES)}"
