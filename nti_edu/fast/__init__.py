"""Fast null-text inversion: the algorithm of ``nti_edu.null_text`` arranged so that the device never
waits for the host. ``nti_edu.null_text`` stays the readable reference; this package is an option with
the same signature and the same ``InversionResult`` (benchmarks/README.md: techniques and numbers).

    from nti_edu.fast import fast_null_text_inversion
    result = fast_null_text_inversion(model, images, prompts)              # CPU: cache, trace, float32
    result = fast_null_text_inversion(model, images, prompts, trace=False) # CPU: eager, cache, float32
    model = load_model(SD15_ID, device="cuda", dtype=torch.bfloat16)       # the weights are frozen
    result = fast_null_text_inversion(model, images, prompts)              # CUDA: graphs, bf16 UNet
"""
from .loop import fast_null_text_inversion, fast_optimize_nulls

__all__ = ["fast_null_text_inversion", "fast_optimize_nulls"]
