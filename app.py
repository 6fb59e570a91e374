"""Speed-Up Studio web app (also the Hugging Face Spaces entry point): `python app.py`.

Host, port, default preset and the rest come from environment variables (README, "Configuration").
"""

import sys

from studio.config import ConfigError, Settings
from studio.ui.app import build_demo, launch_kwargs

try:
    settings = Settings.from_env()
except ConfigError as e:
    sys.exit(f"error: {e}")

demo = build_demo(settings)

if __name__ == "__main__":
    demo.launch(server_name=settings.host, server_port=settings.port, **launch_kwargs())
