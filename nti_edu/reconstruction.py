"""Reconstruction from any ``InversionResult``: sample back from x_T with the result's prompt, its
per-step null embeddings and, for direct inversion (Ju et al. 2024), its per-step corrections.
"""
from __future__ import annotations

import torch

from .guidance import check_guidance
from .result import InversionResult
from .sampling import per_step_nulls
from .trajectory import guided_trajectory


def reconstruct_latents(model, result: InversionResult, *, w: float | None = None,
                        progress: bool = False) -> list[torch.Tensor]:
    """The sampled trajectory x_T .. x_0, noisiest first: N + 1 of (B, C, h, w). w defaults to result.w.

    The result's own fields were checked when it was made (by an inversion, or by ``storage`` on loading);
    only a w given here is checked.
    """
    num_steps, w = result.num_steps, result.w if w is None else check_guidance(w)
    nulls = per_step_nulls(model, result.emb_null, result.emb_cond, num_steps)
    after_step = None
    if result.corrections is not None:
        if len(result.corrections) != num_steps:
            raise ValueError(f"the result holds {len(result.corrections)} corrections for {num_steps} steps; "
                             "they must match")
        after_step = lambda step, x: x + result.corrections[step.i]  # back onto the pivot (PnP Inversion)
    desc = "reconstruction" if after_step is not None else "DDIM sampling"
    emb_cond = result.emb_cond if result.emb_conds is None else result.emb_conds  # textual inversion: C_t per step
    return list(guided_trajectory(model, result.x_T, emb_cond, num_steps=num_steps, w=w, nulls=nulls,
                                  after_step=after_step, progress=progress, desc=desc))


def reconstruct(model, result: InversionResult, *, w: float | None = None, progress: bool = False) -> torch.Tensor:
    """The reconstructed images in [0, 1], (B, 3, H, W)."""
    return model.latent_to_image(reconstruct_latents(model, result, w=w, progress=progress)[-1])
