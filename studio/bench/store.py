"""The bench's results file: one JSON object a line, appended and fsynced as each (prompt, variant) finishes.

A row is acknowledged once its line (with newline) is on disk. A run killed mid-write leaves at most one torn
last line, which was never acknowledged: it is cut off on the next open, and that one result is redone. An
exclusive lock keeps two runs from writing the same folder.

Example:
    with ResultStore(out_dir / "bench.jsonl") as store:
        done = store.keys()
        store.append({"prompt_index": 0, "slug": "base", ...})
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


class StoreError(RuntimeError):
    """The results file cannot be used (locked by another run, or corrupt); the message says which."""


def row_key(row: dict) -> tuple[int, str]:
    return int(row["prompt_index"]), str(row["slug"])


def read_rows(path: Path) -> list[dict]:
    """Every complete row in file order; a torn last line is ignored, a bad line in the middle is an error."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    rows = []
    for number, line in enumerate(complete.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise StoreError(f"{path} line {number} is not valid JSON ({e.msg}); the results file is corrupt — "
                             f"move it away to start over") from None
    return rows


class ResultStore:
    """Append-only JSONL with durable appends; de-duplicates by (prompt_index, slug) on read."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None
        self._lock = None

    def __enter__(self) -> ResultStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_suffix(".lock"), "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise StoreError(f"another bench is writing {self.path.parent}; wait for it or use another --out") from None
        self._cut_torn_tail()
        self._file = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc) -> None:
        if self._file:
            self._file.close()
        if self._lock:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def _cut_torn_tail(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())

    def rows(self) -> list[dict]:
        """Complete rows, first occurrence of each key only."""
        seen, out = set(), []
        for row in read_rows(self.path):
            if row_key(row) not in seen:
                seen.add(row_key(row))
                out.append(row)
        return out

    def append(self, row: dict) -> None:
        """Write one row and force it to disk before returning (the acknowledgement)."""
        self._file.write(json.dumps(row, allow_nan=False, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
