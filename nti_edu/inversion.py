"""DDIM inversion: run the DDIM update (eq. 12 at sigma = 0) from x_0 up to x_T.

Song et al. 2021 (sec. 4.3, eq. 14) read DDIM as an ODE that can be run in either direction;
Mokady et al. 2023 (sec. 3.1) use this inversion at w = 1 to get the pivots x*_0..x*_T.

Timestep convention, shared by the official null-text code and diffusers' DDIMInverseScheduler: the
step from level t_prev to level t evaluates the UNet at the current latent x_{t_prev} but tells it the
timestep t (the first step would otherwise need a timestep below 0).

The trajectory is returned noisiest first, [x_T, ..., x_0], the order in which sampling walks it
(``nti_edu.trajectory``): sampling step i goes from ``latents[i]`` towards ``latents[i + 1]``.
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from .ddim import ddim_inverse_step
from .guidance import check_guidance, predict_guided_eps
from .models.prompts import as_prompt_list
from .result import InversionResult
from .sampling import check_inputs, ddim_sample


@torch.no_grad()
def inverse_trajectory(model, x_0, emb_cond, emb_null, w, num_steps: int, progress: bool = False) -> list:
    """The inverse steps x_0 -> x_T, the sampling steps walked backwards: N + 1 of (B, C, h, w), cleanest first."""
    x_t, trajectory = x_0, [x_0]
    for step in tqdm(model.schedule.steps(num_steps)[::-1], desc="DDIM inversion", disable=not progress):
        eps_pred = predict_guided_eps(model, x_t, step.t, emb_cond, emb_null, w)  # (B, C, h, w)
        x_t = ddim_inverse_step(x_t, eps_pred, step.alpha_bar_prev, step.alpha_bar_t)  # (B, C, h, w)
        trajectory.append(x_t)
    return trajectory


def ddim_invert(model, x_0: torch.Tensor, emb_cond: torch.Tensor, *, num_steps: int = 50, w: float = 1.0,
                emb_null: torch.Tensor | None = None, progress: bool = False) -> list[torch.Tensor]:
    """Invert x_0 (B, C, h, w): return [x_T, ..., x_{t_1}, x_0], ``num_steps + 1`` latents, noisiest first."""
    num_steps, w = check_inputs(model, x_0, emb_cond, num_steps, w)
    if w != 1 and emb_null is None:
        emb_null = model.null_embedding(x_0.shape[0])  # (B, L, D)
    return inverse_trajectory(model, x_0, emb_cond, emb_null, w, num_steps, progress)[::-1]


def invert(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 1.0,
           progress: bool = False) -> InversionResult:
    """Plain DDIM inversion of images in [0, 1] (B, 3, H, W) at guidance w, as an ``InversionResult``.

    The result is meant to be sampled back at the same w; its null embedding is "" at every step. At
    w = 1 its latents are null-text inversion's pivots x*_T .. x*_0 (Mokady et al. 2023, sec. 3.1).
    """
    num_steps, w = model.schedule.check_steps(num_steps), check_guidance(w)  # checked once, here
    return ddim_inversion(model, images, prompts, num_steps, w, progress)


def ddim_inversion(model, images: torch.Tensor, prompts, num_steps: int, w: float,
                   progress: bool = False) -> InversionResult:
    """``invert`` for callers that have checked num_steps and w (null-text inversion's pivots, the alternatives)."""
    start = time.perf_counter()
    prompts = as_prompt_list(prompts)
    x_0 = model.image_to_latent(images)  # (B, C, h, w)
    emb_cond = model.encode_prompt(prompts)  # (B, L, D)
    if emb_cond.shape[0] != x_0.shape[0]:
        raise ValueError(f"got {emb_cond.shape[0]} prompts for {x_0.shape[0]} images; give one prompt per image")
    emb_null = model.null_embedding(x_0.shape[0])  # (B, L, D)
    latents = inverse_trajectory(model, x_0, emb_cond, emb_null, w, num_steps, progress)[::-1]  # x_T first
    return InversionResult(method="ddim", prompts=prompts, num_steps=num_steps, w=w, latents=latents,
                           emb_cond=emb_cond, emb_null=[emb_null] * num_steps,
                           seconds=time.perf_counter() - start, settings={"w_invert": w})


def resample(model, result: InversionResult, *, w: float | None = None, progress: bool = False) -> list[torch.Tensor]:
    """Sample back from the result's x_T with its prompt and null embeddings: noisiest first, N + 1 latents."""
    w = result.w if w is None else w
    return list(ddim_sample(model, result.x_T, result.emb_cond, num_steps=result.num_steps, w=w,
                            emb_null=result.emb_null, progress=progress))


def drift(inverted: list[torch.Tensor], resampled: list[torch.Tensor]) -> torch.Tensor:
    """Root-mean-square distance between the inverted and re-sampled latents at every level.

    Both trajectories noisiest first (as ``ddim_invert`` returns and ``ddim_sample`` yields them). Returns
    (N + 1, B), noisiest level first; row 0 (x_T, where both start) is 0.
    """
    if len(inverted) != len(resampled):
        raise ValueError(f"trajectories differ in length: {len(inverted)} inverted vs {len(resampled)} resampled")
    a = torch.stack(inverted)  # (N+1, B, C, h, w)
    b = torch.stack(resampled)  # (N+1, B, C, h, w)
    return (a - b).float().pow(2).flatten(2).mean(-1).sqrt()  # (N+1, B)
