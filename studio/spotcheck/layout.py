"""What each rater sees: the order of the pairs and which output sits on the left.

Both are randomised per rater and per pair, but derived from a hash of (session, pair, rater) rather than drawn
from a random generator, so a reload shows the same page and the server can map "left" back to an identity
without remembering anything.
"""

from __future__ import annotations

import hashlib


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def variant_on_left(session_id: str, pair_index: int, rater_key: str) -> bool:
    """True when the pair's `variant` is shown on the left for this rater."""
    return _digest("side", session_id, pair_index, rater_key)[0] & 1 == 1


def pair_layout(session_id: str, pair_index: int, rater_key: str, variant: str, reference: str) -> tuple[str, str]:
    """(left label, right label) for this rater."""
    return (variant, reference) if variant_on_left(session_id, pair_index, rater_key) else (reference, variant)


def rater_order(session_id: str, n_pairs: int, rater_key: str) -> list[int]:
    """The pair indices in the order this rater sees them (a per-rater permutation)."""
    return sorted(range(n_pairs), key=lambda i: _digest("order", session_id, i, rater_key))
