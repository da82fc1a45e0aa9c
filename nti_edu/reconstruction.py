"""Reconstruction from any ``InversionResult``: sample back from x_T with the result's prompt, its
per-step null embeddings and, for direct inversion (Ju et al. 2024), its per-step corrections.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .ddim import ddim_step
from .guidance import predict_guided_eps
from .inversion import resample
from .result import InversionResult
from .sampling import check_inputs, per_step_nulls


@torch.no_grad()
def reconstruct_latents(model, result: InversionResult, *, w: float | None = None,
                        progress: bool = False) -> list[torch.Tensor]:
    """The sampled trajectory x_T .. x_0, noisiest first: N + 1 of (B, C, h, w). w defaults to result.w."""
    if result.corrections is None:
        return resample(model, result, w=w, progress=progress)
    num_steps, w = check_inputs(model, result.x_T, result.emb_cond, result.num_steps, result.w if w is None else w)
    if len(result.corrections) != num_steps:
        raise ValueError(f"the result holds {len(result.corrections)} corrections for {num_steps} steps; "
                         "they must match")
    nulls = per_step_nulls(model, result.emb_null, result.emb_cond, num_steps)
    schedule, x_t = model.schedule, result.x_T
    trajectory = [x_t]
    for i, (t, t_prev) in enumerate(tqdm(schedule.pairs(num_steps), desc="reconstruction", disable=not progress)):
        eps_pred = predict_guided_eps(model, x_t, t, result.emb_cond, nulls[i], w)  # (B, C, h, w)
        x_t = ddim_step(x_t, eps_pred, schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev))
        x_t = x_t + result.corrections[i]  # back onto the pivot x*_{t_prev} (PnP Inversion)
        trajectory.append(x_t)
    return trajectory


def reconstruct(model, result: InversionResult, *, w: float | None = None, progress: bool = False) -> torch.Tensor:
    """The reconstructed images in [0, 1], (B, 3, H, W)."""
    return model.latent_to_image(reconstruct_latents(model, result, w=w, progress=progress)[-1])
