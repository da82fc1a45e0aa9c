"""Image quality: PSNR and SSIM on images in [0, 1], one value per image."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for images in [0, 1]: 10 log10(1 / MSE); (B,) float32."""
    _check_pair(a, b)
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1)  # (B,)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))  # (B,)


def _gaussian_window(size: int, sigma: float, channels: int) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2  # (S,)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).outer(g / g.sum())  # (S, S)
    return g.expand(channels, 1, size, size).contiguous()  # (C, 1, S, S)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004, eq. 13) with an 11x11 Gaussian window, sigma 1.5, on
    images in [0, 1]; the mean over valid window positions and channels: (B,) float32.
    """
    _check_pair(a, b)
    if min(a.shape[-2:]) < window:
        raise ValueError(f"images must be at least {window}x{window} pixels for SSIM, got {tuple(a.shape[-2:])}")
    a, b = a.float(), b.float()
    c1, c2 = 0.01**2, 0.03**2  # K1 = 0.01, K2 = 0.03, data range 1
    g = _gaussian_window(window, sigma, a.shape[1]).to(a.device)
    blur = lambda x: F.conv2d(x, g, groups=a.shape[1])  # noqa: E731  (B, C, H', W')
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)  # (B,)
