"""Test tooling: seeded random models in Stable Diffusion's folder layout and SD 1.x's real CLIP tokenizer.

Imported by tests, benchmarks and notebooks' CI runs only; no library module imports it.
"""
from .random_init import save_random_sd
from .sd15_standin import save_sd15_standin

__all__ = ["save_random_sd", "save_sd15_standin"]
