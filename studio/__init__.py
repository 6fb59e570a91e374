"""Speed-Up Studio: one diffusion model, its speed-up variants side by side (README.md)."""

from studio.quiet import quiet_known_library_noise

quiet_known_library_noise()  # before anything imports torchao
