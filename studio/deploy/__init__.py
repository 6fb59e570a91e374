"""Deployment helpers: Hugging Face Spaces (ZeroGPU) support. Docker and Spaces set-up are in the README."""
