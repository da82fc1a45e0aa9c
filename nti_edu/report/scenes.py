"""Edit scenes of the embedded world and the measures a report takes over them.

An edit scene is a world scene, a kind of edit (``nti_edu.world.EDIT_KINDS``) and the world's own drawing of
the source and of the target, with the region the edit may change. PSNR outside that region says how well
an edit keeps what it must (Mokady et al. 2023, sec. 4.1, measure the same with a mask of the edit).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..images import pil_to_tensor
from ..world import EDIT_KINDS, heldout_seeds, random_edit, render_edit, train_seeds

EDIT_SEED_OFFSET = 100_000  # edits' held-out (and training) seeds start here, one block of 1000 per kind


def edit_cases(kind: str, seeds) -> dict:
    """The edit ``kind`` of one random scene per seed: {"edits", "images", "targets" (B, 3, 64, 64) each,
    "regions" (B, 64, 64) bool, True where the edit may change the image}."""
    edits, sources, targets, regions = [], [], [], []
    for seed in seeds:
        e = random_edit(kind, np.random.default_rng(seed))
        source, target, region = render_edit(e, seed)
        edits.append(e), sources.append(pil_to_tensor(source)), targets.append(pil_to_tensor(target))
        regions.append(torch.from_numpy(region))
    return {"edits": edits, "images": torch.cat(sources), "targets": torch.cat(targets),
            "regions": torch.stack(regions)}


def kind_seeds(kind: str, n: int, heldout: bool) -> range:
    """n seeds for ``kind``: a block of its own, among the held-out seeds or the training seeds."""
    start = EDIT_SEED_OFFSET + 1000 * list(EDIT_KINDS).index(kind)
    return heldout_seeds(n, start) if heldout else train_seeds(n, start)


def psnr_outside(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images (B, 3, H, W) over the pixels outside ``region`` (B, H, W) bool: (B,)."""
    keep = (~region).float()[:, None]  # (B, 1, H, W)
    mse = ((a.float() - b.float()).pow(2) * keep).flatten(1).sum(1) / (3 * keep.flatten(1).sum(1)).clamp_min(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))  # (B,)


def mask_quality(keep: torch.Tensor, regions: torch.Tensor) -> dict:
    """How paste-back masks (B, 1, H, W) fit the pixels the edit must not touch (outside ``regions``,
    (B, H, W)): the share of those pixels they cover and the share of their own pixels that lie there; (B,) each."""
    keep, must = keep[:, 0].bool(), ~regions  # (B, H, W) each
    both = (keep & must).flatten(1).sum(1).float()  # (B,)
    return {"covered": both / must.flatten(1).sum(1).clamp_min(1),
            "precision": both / keep.flatten(1).sum(1).clamp_min(1)}


def percentile(values: torch.Tensor, q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    return torch.quantile(values.float(), q).item()


def timed(fn, *args, **kwargs):
    """(fn's result, wall seconds)."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start
