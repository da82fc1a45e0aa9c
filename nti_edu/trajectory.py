"""One guided DDIM trajectory, x_T to x_0, that every sampler in nti_edu walks.

Song, Meng and Ermon, "Denoising Diffusion Implicit Models", ICLR 2021, eq. (12), with classifier-free
guidance (Ho and Salimans 2022, eq. 6) whose null embedding may change at every step (Mokady et al.
2023, sec. 3.2). As in smalldiffusion, one generator yields every latent, noisiest first, so that a
caller can plot the whole trajectory, and the variants are hooks, not copies of the loop:

- sampling (``sampling.py``) and reconstruction (``reconstruction.py``): ``nulls``, one per step;
- direct inversion (``alternatives.py``; Ju et al. 2024): ``after_step`` puts the latent back on its pivot;
- editing (``editing.py``): a guidance weight per branch, and Prompt-to-Prompt's controller in
  ``before_step`` (which step the attention processors see) and ``after_step`` (local blend).

Null-text inversion (``null_text.py``) writes its own loop out, in the order of the paper's Algorithm 1:
its null embeddings are not given but tuned at each step, between the conditional prediction and the step.

Every trajectory in nti_edu is stored in this order: ``latents[0]`` is x_T, ``latents[i]`` the latent that
sampling step i starts from, ``latents[-1]`` is x_0 (DDIM inversion returns its pivots the same way).
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from .ddim import ddim_step
from .guidance import predict_guided_eps
from .schedule import Step


def guided_trajectory(model, x_T: torch.Tensor, emb_cond, *, num_steps: int, w,
                      nulls: Sequence[torch.Tensor], before_step: Callable[[Step], None] | None = None,
                      after_step: Callable[[Step, torch.Tensor], torch.Tensor] | None = None,
                      eta: float = 0.0, generator: torch.Generator | None = None, progress: bool = False,
                      desc: str = "DDIM sampling", first_step: int = 0) -> Iterator[torch.Tensor]:
    """Yield x_T (B, C, h, w), then the latent after each of ``num_steps`` guided DDIM steps, ending at x_0.

    The null embedding of step i is ``nulls[i]`` (B, L, D). w is a number, or a tensor broadcasting against
    x_T for one weight per image. Callers check their inputs (eta included) once, before the walk.
    ``emb_cond`` is (B, L, D), or a list of one per step (textual inversion's tuned C_t, ``ablations.py``);
    ``first_step`` > 0 starts at that step, x_T then being its latent (SDEdit, ``ablations.py``).
    """
    x_t = x_T
    yield x_t
    for step in tqdm(model.schedule.steps(num_steps)[first_step:], desc=desc, disable=not progress):
        if before_step is not None:
            before_step(step)  # e.g. tell Prompt-to-Prompt's attention processors which step this is
        with torch.no_grad():
            # 1. the guided prediction eps_null + w (eps_cond - eps_null) at (x_t, t)
            cond = emb_cond[step.i] if isinstance(emb_cond, (list, tuple)) else emb_cond  # (B, L, D)
            eps_pred = predict_guided_eps(model, x_t, step.t, cond, nulls[step.i], w)  # (B, C, h, w)
            # 2. the DDIM step (eq. 12), with the random term z only when eta > 0
            noise = None if eta == 0 else torch.randn(x_t.shape, generator=generator, device=x_t.device,
                                                      dtype=x_t.dtype)
            x_t = ddim_step(x_t, eps_pred, step.alpha_bar_t, step.alpha_bar_prev, eta, noise)  # (B, C, h, w)
            # 3. the caller's correction of the new latent, if any
            if after_step is not None:
                x_t = after_step(step, x_t)
        yield x_t



def walk_to_x0(trajectory: Iterator[torch.Tensor]) -> torch.Tensor:
    """Walk a trajectory to its end (its hooks run at every step on the way) and return its last latent, x_0."""
    for x_t in trajectory:
        pass
    return x_t  # (B, C, h, w)
