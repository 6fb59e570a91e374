"""Speed-Up Studio web app (also the Hugging Face Spaces entry point): `python app.py`.

Host, port, default preset and the rest come from environment variables (README, "Configuration").
"""

import sys

from studio.config import ConfigError, Settings

try:
    settings = Settings.from_env(check_presets=True)  # a broken preset of yours stops the start
except ConfigError as e:
    sys.exit(f"error: {e}")
if problems := settings.storage_problems():  # else runs would finish and their records vanish, unseen
    sys.exit("error: " + "\nerror: ".join(problems))

from studio.engine.pool import warm_up  # noqa: E402  (after the settings check)

warm_up(settings)  # loads the model in the background while gradio imports and the page is built
from studio.ui.app import build_demo, launch_kwargs  # noqa: E402

demo = build_demo(settings, warm=False)

if __name__ == "__main__":
    demo.launch(server_name=settings.host, server_port=settings.port, **launch_kwargs(settings))
