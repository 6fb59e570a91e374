"""``python -m studio.metrics.prepare``: fetch and convert LPIPS's AlexNet weights once (exit 0 when ready)."""

from __future__ import annotations

import sys

from studio.metrics.weights import lpips_status, prepare_lpips_weights


def main() -> int:
    """Prepare the weights, print what happened, return 0 if LPIPS is ready afterwards, else 1."""
    try:
        prepare_lpips_weights(verbose=True)
    except Exception as exc:  # noqa: BLE001 - report any failure as one line, not a traceback
        print(f"preparing LPIPS weights failed: {exc}", file=sys.stderr)
    ready, message = lpips_status()
    print(message, file=sys.stdout if ready else sys.stderr)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
