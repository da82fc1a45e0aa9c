"""One guided DDIM trajectory, x_T to x_0, that every sampler in nti_edu walks.

Song, Meng and Ermon, "Denoising Diffusion Implicit Models", ICLR 2021, eq. (12), with classifier-free
guidance (Ho and Salimans 2022, eq. 6) whose null embedding may change at every step (Mokady et al.
2023, sec. 3.2). As in smalldiffusion, one generator yields every latent, noisiest first, so that a
caller can plot the whole trajectory, and the variants are hooks, not copies of the loop:

- sampling (``sampling.py``) and reconstruction (``reconstruction.py``): ``nulls``, one per step;
- direct inversion (``alternatives.py``; Ju et al. 2024): ``after_step`` puts the latent back on its pivot;
- editing (``editing.py``): a guidance weight per branch, and Prompt-to-Prompt's controller in
  ``before_step`` (which step the attention processors see) and ``after_step`` (local blend);
- null-text inversion and its ablation (``null_text.py``): ``tune_null`` chooses the step's null
  embedding at the current latent, given the conditional prediction; the step that follows is then
  Algorithm 1's advance, x_bar_{t-1} = z_{t-1}(x_bar_t, emb_null_t, C).

Every trajectory in nti_edu is stored in this order: ``latents[0]`` is x_T, ``latents[i]`` the latent that
sampling step i starts from, ``latents[-1]`` is x_0 (DDIM inversion returns its pivots the same way).
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from .ddim import ddim_step
from .guidance import guided_eps, predict_guided_eps
from .schedule import Step

TuneNull = Callable[[Step, torch.Tensor, torch.Tensor], torch.Tensor]  # (step, x_t, eps_cond) -> emb_null


def guided_trajectory(model, x_T: torch.Tensor, emb_cond: torch.Tensor, *, num_steps: int, w,
                      nulls: Sequence[torch.Tensor] | None = None, tune_null: TuneNull | None = None,
                      before_step: Callable[[Step], None] | None = None,
                      after_step: Callable[[Step, torch.Tensor], torch.Tensor] | None = None,
                      eta: float = 0.0, generator: torch.Generator | None = None, progress: bool = False,
                      desc: str = "DDIM sampling") -> Iterator[torch.Tensor]:
    """Yield x_T (B, C, h, w), then the latent after each of ``num_steps`` guided DDIM steps, ending at x_0.

    The null embedding of step i is ``nulls[i]`` (B, L, D), or what ``tune_null(step, x_t, eps_cond)`` returns.
    w is a number, or a tensor broadcasting against x_T for one weight per image. Callers check their inputs.
    """
    x_t = x_T
    yield x_t
    for step in tqdm(model.schedule.steps(num_steps), desc=desc, disable=not progress):
        if before_step is not None:
            before_step(step)  # e.g. tell Prompt-to-Prompt's attention processors which step this is
        # 1. the guided prediction eps_null + w (eps_cond - eps_null) at (x_t, t)
        eps_pred = guided_prediction(model, step, x_t, emb_cond, w, nulls, tune_null)  # (B, C, h, w)
        # 2. the DDIM step (eq. 12), with the random term z only when eta > 0
        noise = None if eta == 0 else torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
        with torch.no_grad():
            x_t = ddim_step(x_t, eps_pred, step.alpha_bar_t, step.alpha_bar_prev, eta, noise)  # (B, C, h, w)
        # 3. the caller's correction of the new latent, if any
        if after_step is not None:
            with torch.no_grad():
                x_t = after_step(step, x_t)
        yield x_t


def guided_prediction(model, step: Step, x_t, emb_cond, w, nulls, tune_null) -> torch.Tensor:
    """The guided eps of one step: with the given null embedding, or with the one ``tune_null`` chooses.

    For null-text inversion the conditional prediction is made once, with no gradient, before the null
    embedding is tuned, and the tuned one's prediction is made alone (the official code's order).
    """
    if tune_null is None:
        with torch.no_grad():
            return predict_guided_eps(model, x_t, step.t, emb_cond, nulls[step.i], w)  # (B, C, h, w)
    with torch.no_grad():
        eps_cond = model.predict_eps(x_t, step.t, emb_cond)  # (B, C, h, w)
    emb_null = tune_null(step, x_t, eps_cond)  # (B, L, D)
    with torch.no_grad():
        return guided_eps(model.predict_eps(x_t, step.t, emb_null), eps_cond, w)  # (B, C, h, w)


def run(trajectory: Iterator[torch.Tensor]) -> list[torch.Tensor]:
    """Walk a trajectory to its end and keep every latent: N + 1 of (B, C, h, w), noisiest first."""
    return list(trajectory)
