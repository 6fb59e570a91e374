"""`python -m studio.deploy.healthcheck`: exit 0 if the web app answers on this machine, else 1 (Docker HEALTHCHECK).

Asks http://127.0.0.1:<port>/ (port from STUDIO_PORT / GRADIO_SERVER_PORT, default 7860), which answers whether
the app listens on 127.0.0.1 or on 0.0.0.0.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from studio.config import ConfigError, Settings

TIMEOUT_SECONDS = 5


def check(port: int, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """(healthy?, one line saying why)."""
    url = f"http://127.0.0.1:{port}/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 400, f"{url} answered HTTP {response.status}"
    except urllib.error.HTTPError as e:
        return False, f"{url} answered HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return False, f"{url} did not answer: {getattr(e, 'reason', e)}"


def main() -> int:
    try:
        port = Settings.from_env().port
    except ConfigError as e:
        print(f"unhealthy: {e}", file=sys.stderr)
        return 1
    healthy, message = check(port)
    print(("healthy: " if healthy else "unhealthy: ") + message, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
