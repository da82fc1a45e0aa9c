"""Fast null-text inversion: the algorithm of ``nti_edu.null_text`` arranged so that the device never
waits for the host. ``nti_edu.null_text`` stays the readable reference; this package is an option.

    from nti_edu.fast import fast_null_text_inversion
    result = fast_null_text_inversion(model, images, prompts)                       # CPU: cached, float32
    result = fast_null_text_inversion(model, images, prompts, precision="bf16")     # CUDA: graphs + bf16
"""
from .loop import fast_null_text_inversion, fast_optimize_nulls

__all__ = ["fast_null_text_inversion", "fast_optimize_nulls"]
