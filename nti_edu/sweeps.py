"""Sweeps of DDIM inversion over the step count and the guidance weights, computed once and kept.

The lecture's two claims, measured: finer steps give better reconstructions (the inverse step's
"small time interval" approximation, Mokady et al. 2023, sec. 3.1), and a high guidance weight breaks
inversion. Inverting at ``w_invert`` and re-sampling at ``w_sample`` are varied separately, so one can
see which half is to blame. Widgets and the CLI read the stored points; nothing is recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import torch
from tqdm.auto import tqdm

from .inversion import drift, invert, resample
from .metrics import psnr


@dataclass
class SweepPoint:
    """One (steps, w_invert, w_sample) point: the reconstruction and how far it drifted."""

    recon: torch.Tensor  # (B, 3, H, W) in [0, 1]
    psnr: torch.Tensor  # (B,) dB against the input images
    drift: torch.Tensor  # (N + 1, B) latent RMS distance per level, noisiest first (row 0, x_T, is 0)


@dataclass
class Sweep:
    images: torch.Tensor  # (B, 3, H, W) the inputs
    prompts: list[str]
    points: dict = field(default_factory=dict)  # (steps, w_invert, w_sample) -> SweepPoint

    def get(self, steps: int, w_invert: float, w_sample: float) -> SweepPoint:
        key = (steps, float(w_invert), float(w_sample))
        if key not in self.points:
            raise KeyError(f"{key} was not swept; swept points: {sorted(self.points)}")
        return self.points[key]

    def psnr_table(self, w_invert_equals_sample: bool = True) -> dict:
        """{(steps, w): mean PSNR} for inversion and sampling at the same w (or all points if False)."""
        return {k if not w_invert_equals_sample else (k[0], k[1]): p.psnr.mean().item()
                for k, p in sorted(self.points.items()) if not w_invert_equals_sample or k[1] == k[2]}


def sweep(model, images, prompts, step_counts, w_inverts, w_samples=None, *, progress: bool = True) -> Sweep:
    """Invert at every (steps, w_invert), re-sample at every w_sample (default: the same w only)."""
    result = Sweep(images=images, prompts=[prompts] if isinstance(prompts, str) else list(prompts))
    pairs = [(s, wi) for s, wi in product(step_counts, w_inverts)]
    for steps, w_inv in tqdm(pairs, desc="inversion sweep", disable=not progress):
        inverted = invert(model, images, prompts, num_steps=steps, w=w_inv)
        for w_s in (w_samples if w_samples is not None else [w_inv]):
            back = resample(model, inverted, w=w_s)  # N + 1 latents, noisiest first
            recon = model.latent_to_image(back[-1])  # (B, 3, H, W)
            result.points[(steps, float(w_inv), float(w_s))] = SweepPoint(recon, psnr(recon, images),
                                                                          drift(inverted.latents, back))
    return result
