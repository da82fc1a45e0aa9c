"""DDIM sampling: the guided trajectory from a given x_T, every x_t yielded so that notebooks can plot it.

Song et al., "Denoising Diffusion Implicit Models", ICLR 2021, eq. (12), with classifier-free guidance
(Ho and Salimans 2022) and, for null-text inversion, a null embedding that may change at every step
(Mokady et al. 2023, sec. 3.2). The loop itself is ``nti_edu.trajectory.guided_trajectory``; this module
checks a user's inputs once (latents, prompt embeddings, steps, w, eta) and fills in the defaults.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from .ddim import check_eta
from .guidance import check_guidance
from .trajectory import guided_trajectory, walk_to_x0


def per_step_nulls(model, emb_null, emb_cond: torch.Tensor, num_steps: int) -> list[torch.Tensor]:
    """One null embedding per sampling step (noisiest first); a single tensor is used at every step."""
    if emb_null is None:
        emb_null = model.null_embedding(emb_cond.shape[0])  # (B, L, D)
    if torch.is_tensor(emb_null):
        return [emb_null] * num_steps
    if len(emb_null) != num_steps:
        raise ValueError(f"got {len(emb_null)} per-step null embeddings for {num_steps} steps; they must match")
    return list(emb_null)


def check_inputs(model, x, emb_cond, num_steps: int, w) -> tuple[int, float]:
    """Validate a user's latents, prompt embeddings, step count and guidance weight; return (num_steps, w)."""
    model.check_latents(x)
    if not torch.is_tensor(emb_cond) or emb_cond.ndim != 3 or emb_cond.shape[0] != x.shape[0]:
        raise ValueError(f"emb_cond must be (B, L, D) with B = {x.shape[0]} (one prompt per latent), "
                         f"got {tuple(emb_cond.shape) if torch.is_tensor(emb_cond) else emb_cond!r}")
    return model.schedule.check_steps(num_steps), check_guidance(w)


def ddim_sample(model, x_T: torch.Tensor, emb_cond: torch.Tensor, *, num_steps: int = 50, w: float = 7.5,
                emb_null: torch.Tensor | Sequence[torch.Tensor] | None = None, eta: float = 0.0,
                generator: torch.Generator | None = None, progress: bool = False) -> Iterator[torch.Tensor]:
    """Yield x_T, then the latent after each of the ``num_steps`` DDIM steps, ending with x_0.

    x_T: (B, C, h, w); emb_cond: (B, L, D); emb_null: one (B, L, D) tensor, a list of ``num_steps`` of
    them, or None for the model's "" embedding. eta = 0 is deterministic; for eta > 0 the noise z is
    drawn with ``generator``.
    """
    num_steps, w = check_inputs(model, x_T, emb_cond, num_steps, w)
    eta = check_eta(eta)  # once per sampling call, not at every step
    nulls = per_step_nulls(model, emb_null, emb_cond, num_steps)
    return guided_trajectory(model, x_T, emb_cond, num_steps=num_steps, w=w, nulls=nulls, eta=eta,
                             generator=generator, progress=progress)


def sample(model, x_T, emb_cond, **kwargs) -> torch.Tensor:
    """Run ``ddim_sample`` to the end and return x_0 alone: (B, C, h, w)."""
    return walk_to_x0(ddim_sample(model, x_T, emb_cond, **kwargs))  # (B, C, h, w)


def generate(model, prompts, *, num_steps: int = 50, w: float = 7.5, seed: int = 0, progress=False) -> torch.Tensor:
    """Text to image: prompts -> images in [0, 1], (B, 3, H, W), from seeded Gaussian x_T."""
    emb_cond = model.encode_prompt(prompts)  # (B, L, D)
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn((emb_cond.shape[0], *model.latent_shape), generator=g).to(model.device, model.work_dtype)
    return model.latent_to_image(sample(model, x_T, emb_cond, num_steps=num_steps, w=w, progress=progress))
