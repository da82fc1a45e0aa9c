"""Two cheaper alternatives to null-text inversion, behind the same ``InversionResult``.

Both start from the same pivots as null-text inversion (DDIM inversion at w = 1 with the source
prompt, ``nti_edu.null_text.pivots``) and optimise nothing. Plain DDIM inversion at any w is
``nti_edu.inversion.invert``.

* Negative-prompt inversion: Miyake, Iohara, Saito and Tanaka, "Negative-prompt Inversion: Fast Image
  Inversion for Editing with Text-guided Diffusion Models", 2023. The null embedding that null-text
  inversion finds is close to the prompt embedding (their sec. 3), so use ``emb_cond`` itself as the
  "negative prompt" at every step. Then eps_null = eps_cond and guidance does nothing:
  eps_null + w (eps_cond - eps_null) = eps_cond for every w, and sampling at any w retraces the w = 1
  sampler, the approximate inverse of the pivots' w = 1 inversion.
* Direct inversion: Ju, Zeng, Bian, Liu and Xu, "PnP Inversion: Boosting Diffusion-based Editing with
  3 Lines of Code", ICLR 2024 (Algorithm 1). Sample the source branch at w with the plain "" embedding
  and, after each step, add the gap to the pivot, x*_{t-1} - x_{t-1}: the source branch then stays on
  the inverted trajectory and reconstruction is exact up to round-off. The gaps are stored per step in
  ``InversionResult.corrections``; editing adds them to the source branch only.
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch

from .guidance import check_guidance
from .null_text import pivots
from .result import InversionResult
from .trajectory import guided_trajectory, walk_to_x0


def negative_prompt_inversion(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 7.5,
                              progress: bool = False) -> InversionResult:
    """Negative-prompt inversion of images in [0, 1] (B, 3, H, W): pivots at w = 1, then ``emb_cond`` in
    place of the null embedding at every step (method "negative-prompt"). Nothing is optimised.
    """
    num_steps, w = model.schedule.check_steps(num_steps), check_guidance(w)
    start = time.perf_counter()
    pivotal = pivots(model, images, prompts, num_steps=num_steps, progress=progress)
    return replace(pivotal, method="negative-prompt", w=w, emb_null=[pivotal.emb_cond] * num_steps,
                   seconds=time.perf_counter() - start)


def direct_corrections(model, latents, emb_cond, emb_null, w: float, progress: bool = False) -> list[torch.Tensor]:
    """PnP Inversion's per-step gaps z*_{t-1} - x_{t-1}, noisiest step first: N of (B, C, h, w).

    latents: the pivots z*_T..z*_0 (noisiest first). x_{t-1} is one guided DDIM step from the source
    branch's current latent, which the previous gap has put back on the pivot.
    """
    corrections = []

    def back_onto_the_pivot(step, x_prev):  # the gap, added with the same arithmetic reconstruction uses
        corrections.append(latents[step.i + 1] - x_prev)  # (B, C, h, w)
        return x_prev + corrections[-1]

    nulls = [emb_null] * (len(latents) - 1)
    # walking the trajectory records the gaps
    walk_to_x0(guided_trajectory(model, latents[0], emb_cond, num_steps=len(latents) - 1, w=w, nulls=nulls,
                                 after_step=back_onto_the_pivot, progress=progress, desc="direct inversion"))
    return corrections


def direct_inversion(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 7.5,
                     progress: bool = False) -> InversionResult:
    """Direct inversion (PnP Inversion) of images in [0, 1] (B, 3, H, W) at guidance w (method "direct").

    The null embedding stays "" at every step; ``corrections`` holds the per-step gaps to the pivots.
    """
    num_steps, w = model.schedule.check_steps(num_steps), check_guidance(w)
    start = time.perf_counter()
    pivotal = pivots(model, images, prompts, num_steps=num_steps, progress=progress)
    corrections = direct_corrections(model, pivotal.latents, pivotal.emb_cond, pivotal.emb_null[0], w, progress)
    return replace(pivotal, method="direct", w=w, corrections=corrections, seconds=time.perf_counter() - start)
