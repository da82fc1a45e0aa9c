"""Classifier-free guidance: Ho and Salimans, "Classifier-Free Diffusion Guidance", 2022, eq. (6).

    eps = eps_null + w * (eps_cond - eps_null)

w = 1 is the plain conditional prediction, w = 0 the unconditional one, and w > 1 pushes further
towards the prompt (Stable Diffusion's default is 7.5). Ho and Salimans write (1 + w); we follow the
null-text paper (Mokady et al. 2023, eq. 2), where w is the weight itself.
"""
from __future__ import annotations

import math

import torch


def check_guidance(w) -> float:
    """Return w as a float, or raise a ValueError: it must be a finite number >= 0."""
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
        raise ValueError(f"guidance weight w must be a finite number >= 0 (1 = no guidance, 7.5 = SD default), got {w!r}")
    return float(w)


def guided_eps(eps_null: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance, eps_null + w (eps_cond - eps_null); both inputs (B, C, H, W)."""
    return eps_null + w * (eps_cond - eps_null)  # (B, C, H, W)


def predict_guided_eps(model, x_t, t: int, emb_cond, emb_null, w) -> torch.Tensor:
    """Guided eps at (x_t, t): one UNet call when w is 0 or 1, else null and conditional batched.

    w is a number, or a tensor that broadcasts against (B, C, h, w) for a weight per image (editing's branches).
    """
    if not torch.is_tensor(w) and w == 1:
        return model.predict_eps(x_t, t, emb_cond)  # (B, C, h, w): the null branch has weight 0
    if not torch.is_tensor(w) and w == 0:
        return model.predict_eps(x_t, t, emb_null)  # (B, C, h, w): the conditional branch has weight 0
    eps_null, eps_cond = model.predict_eps_pair(x_t, t, emb_null, emb_cond)  # 2 x (B, C, h, w)
    return guided_eps(eps_null, eps_cond, w)
