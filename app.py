"""Speed-Up Studio web app (also the Hugging Face Spaces entry point): `python app.py`."""

from studio.ui.app import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.queue().launch(server_name="0.0.0.0", server_port=7860)
