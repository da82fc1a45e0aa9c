"""The DDIM update written out: Song, Meng and Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.

Code names and paper symbols (the paper writes alpha_t for what we call alpha_bar_t):
    x_t -> x_t,  eps_pred -> eps_theta^(t)(x_t),  x0_pred -> "predicted x_0",
    alpha_bar_t -> alpha_t,  alpha_bar_prev -> alpha_{t-1},  sigma_t -> sigma_t (eq. 16).

Every function here is plain arithmetic on tensors: the alpha values come in as numbers or 0-d tensors,
so the same code serves sampling (t -> t_prev) and inversion (t -> t_next).
"""
from __future__ import annotations

import torch


def predict_x0(x_t: torch.Tensor, eps_pred: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """The "predicted x_0" of DDIM eq. (12): (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    return (x_t - (1 - alpha_bar_t) ** 0.5 * eps_pred) / alpha_bar_t**0.5  # (B, C, H, W)


def check_eta(eta) -> float:
    """Return eta as a float, or raise a ValueError: it must be a finite number >= 0."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta >= 0 or eta == float("inf"):
        raise ValueError(f"eta must be a finite number >= 0 (0 is deterministic DDIM, 1 is DDPM-like), got {eta!r}")
    return float(eta)


def ddim_sigma(alpha_bar_t, alpha_bar_prev, eta: float):
    """sigma_t of DDIM eq. (16): eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev).

    eta = 0 gives the deterministic DDIM sampler, eta = 1 the DDPM posterior's standard deviation.
    Callers check eta once (``check_eta``), not at every step.
    """
    variance = (1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev)
    return eta * variance**0.5


def ddim_step(x_t, eps_pred, alpha_bar_t, alpha_bar_prev, eta: float = 0.0, noise=None) -> torch.Tensor:
    """One DDIM sampling step x_t -> x_{t-1}, DDIM eq. (12):

        x_{t-1} = sqrt(a_prev) x0_pred + sqrt(1 - a_prev - sigma_t^2) eps_pred + sigma_t z

    With eta = 0 (sigma_t = 0) the step is deterministic. For eta > 0 pass the noise z (same shape as
    x_t) so that runs are reproducible. eta >= 0 is the caller's to check (``check_eta``, once per run).
    """
    # 1. predicted x_0 ("predicted x_0" of eq. 12)
    x0_pred = predict_x0(x_t, eps_pred, alpha_bar_t)  # (B, C, H, W)
    # 2. sigma_t of eq. (16)
    sigma_t = ddim_sigma(alpha_bar_t, alpha_bar_prev, eta)
    # 3. "direction pointing to x_t"
    direction = (1 - alpha_bar_prev - sigma_t**2) ** 0.5 * eps_pred  # (B, C, H, W)
    # 4. x_{t-1} without the random noise
    x_prev = alpha_bar_prev**0.5 * x0_pred + direction  # (B, C, H, W)
    # 5. the random noise, only when sigma_t > 0
    if eta > 0:
        if noise is None:
            raise ValueError("ddim_step with eta > 0 needs `noise` (a tensor shaped like x_t)")
        x_prev = x_prev + sigma_t * noise
    return x_prev


def ddim_inverse_step(x_t, eps_pred, alpha_bar_t, alpha_bar_next) -> torch.Tensor:
    """One DDIM inversion step x_t -> x_{t+1}: eq. (12) at sigma = 0 with "prev" replaced by "next".

    The DDIM ODE (sec. 4.3, eq. 14) is run forwards in time; eps_pred is evaluated at the current, less noisy
    point, which is exact only in the limit of small steps (the approximation null-text inversion
    repairs; Mokady et al. 2023, sec. 3).
    """
    # 1. predicted x_0 from the current point
    x0_pred = predict_x0(x_t, eps_pred, alpha_bar_t)  # (B, C, H, W)
    # 2. re-noise it to the next, noisier level with the same eps
    return alpha_bar_next**0.5 * x0_pred + (1 - alpha_bar_next) ** 0.5 * eps_pred  # (B, C, H, W)
