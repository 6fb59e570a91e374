"""Speed-Up Studio web app (also the Hugging Face Spaces entry point): `python app.py`."""

import os

from studio.ui.app import build_demo, launch_kwargs

demo = build_demo()

if __name__ == "__main__":
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), **launch_kwargs())
