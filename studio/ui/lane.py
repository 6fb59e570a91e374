"""Whether the GPU lane (`concurrency_id="gpu"`: one comparison or bench at a time) is in use in this process, so a
new request's status can say it waits rather than that it starts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_users = 0


@contextmanager
def busy() -> Iterator[None]:
    """Hold the lane's count while a comparison or bench runs (a cancelled or abandoned run releases it too)."""
    global _users
    with _lock:
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1


def in_use() -> bool:
    with _lock:
        return _users > 0
