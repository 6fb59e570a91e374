"""A memory budget for the loaded variants: the one about to run gets its turn, the others wait.

Each variant's denoiser (a quantized copy, a distilled checkpoint, a compiled wrapper) costs device memory on
top of the shared base. When they do not all fit the budget, the least recently run ones make room:
- on an accelerator they are moved to the CPU and moved back for their next turn;
- on a CPU-only machine there is nowhere cheaper to put them, so they are released and rebuilt for their next
  turn (the base pipeline, which every cached and few-step variant runs on, always stays).
Every variant's result says whether it had to wait and what made room for it, so a slow first run caused by a
turn is never mistaken for the variant being slow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch


def _device_of(module: torch.nn.Module) -> torch.device | None:
    for p in module.parameters():
        return p.device
    return None


@dataclass
class Turn:
    """What the budget did before one variant ran."""

    budget_bytes: int
    waited: bool = False  # its denoiser was not resident: moved in or rebuilt for this run
    moved_in_s: float = 0.0
    made_room_by: list[str] = field(default_factory=list)  # the variants that stepped aside, with how
    resident_bytes: int = 0  # every distinct module on the device once this variant's turn began
    over_budget: bool = False

    def to_dict(self) -> dict:
        return {"budget_bytes": self.budget_bytes, "waited": self.waited, "moved_in_s": self.moved_in_s,
                "made_room_by": list(self.made_room_by), "resident_bytes": self.resident_bytes,
                "over_budget": self.over_budget}

    def sentence(self) -> str:
        gb = self.budget_bytes / 1e9
        parts = []
        if self.waited:
            parts.append(f"waited for its turn (memory budget {gb:.3g} GB); brought in in {self.moved_in_s:.2f} s")
        if self.made_room_by:
            parts.append("made room by " + ", ".join(self.made_room_by))
        if self.over_budget:
            parts.append(f"still over the {gb:.3g} GB budget: nothing else could step aside")
        return "; ".join(parts)


class MemoryBudget:
    """Tracks when each derived pipeline last ran and enforces `limit_bytes` before every run."""

    def __init__(self, limit_bytes: int):
        if limit_bytes <= 0:
            raise ValueError(f"memory budget must be positive, got {limit_bytes} bytes")
        self.limit_bytes = limit_bytes
        self._last_run: dict[tuple, float] = {}

    def bring_in(self, engine, denoiser: torch.nn.Module, turn: Turn) -> None:
        """Move a denoiser that waited on the CPU back onto the engine's device."""
        where = _device_of(denoiser)
        if where is not None and where.type != engine.device.type:
            t0 = time.perf_counter()
            denoiser.to(engine.device)
            turn.waited, turn.moved_in_s = True, time.perf_counter() - t0

    def make_room(self, engine, key: tuple, needed_bytes: int, keep: set[int]) -> Turn:
        """Before variant `key` runs: step aside the least recently run others until `needed_bytes` more fits.

        `keep` holds the ids of modules the coming run uses (never moved)."""
        turn = Turn(self.limit_bytes)
        self._last_run[key] = time.monotonic()
        for other in sorted(engine.derived_keys(), key=lambda k: self._last_run.get(k, 0.0)):
            if engine.resident_bytes() + needed_bytes <= self.limit_bytes:
                break
            if other == key:
                continue
            how = engine.step_aside(other, keep)
            if how:
                turn.made_room_by.append(how)
        return turn

    def settle(self, engine, turn: Turn) -> Turn:
        turn.resident_bytes = engine.resident_bytes()
        turn.over_budget = turn.resident_bytes > self.limit_bytes
        return turn
