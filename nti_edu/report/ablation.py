"""The paper's ablation (Mokady et al. 2023, sec. 4, fig. 5): optimisation budget, per-step against global.

Per-step: Algorithm 1 with k inner iterations at every step and no early stop. Global: one null embedding
shared by all steps, k epochs of one Adam update per step (``global_null_text_inversion``), the same number
of UNet calls. k = 0 is the "" embedding for both: DDIM inversion at w = 1, sampled at w.
"""
from __future__ import annotations

from ..metrics import psnr
from ..null_text import global_null_text_inversion, null_text_inversion
from ..reconstruction import reconstruct
from .edits import W


def ablation(model, images, prompts, steps: int, budgets) -> dict:
    """{"per-step": {k: PSNR (B,)}, "global": {k: PSNR (B,)}} for each k of ``budgets``; same pivots throughout."""
    out = {"per-step": {}, "global": {}}
    for k in budgets:
        result = null_text_inversion(model, images, prompts, num_steps=steps, w=W, num_inner_steps=k,
                                     early_stop_eps=None, progress=False)
        out["per-step"][k] = psnr(reconstruct(model, result), images)
        if k > 0:
            result = global_null_text_inversion(model, images, prompts, num_steps=steps, w=W, num_epochs=k,
                                                progress=False)
        out["global"][k] = psnr(reconstruct(model, result), images)  # k = 0: the same "" embedding
    return out
