"""Is a VAE's latent local? What a local blend needs (Hertz et al. 2023), measured on the VAE alone.

A local blend keeps the source's latent over what an edit must not touch; that keeps the source's pixels
only if each latent pixel stands for its own pixels, whatever surrounds them. On scenes whose source and
target drawings differ only in a region (a background swap): ``locality`` gives the latent change inside
the object over that in the background far from it (0: local), and the PSNR over the object of a
patchwork (the target's latent with the source's on every latent pixel the object touches), beside the
plain round trips of the source and the target over the same pixels. ``round_trip``: the VAE's quality.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..metrics import psnr
from .scenes import psnr_outside


def encode(vae, images: torch.Tensor) -> torch.Tensor:
    """Posterior means of images (B, 3, H, W) in [0, 1]: (B, C, h, w), unscaled."""
    return vae.encode(images * 2 - 1).latent_dist.mean


def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (B, 3, H, W) from unscaled latents (B, C, h, w)."""
    return ((vae.decode(latents).sample + 1) / 2).clamp(0, 1)


def object_cells(regions: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From the edit regions (B, H, W) bool (True: the background, which the edit changes), at latent
    resolution (B, 1, h, w) bool each: cells wholly inside the object, cells the object touches, and
    background cells two or more cells away from the object."""
    obj = (~regions).float()[:, None]  # (B, 1, H, W): the object's pixels
    inside = -F.max_pool2d(-obj, scale) > 0.5  # (B, 1, h, w)
    touched = F.max_pool2d(obj, scale) > 0.5  # (B, 1, h, w)
    far = F.max_pool2d(touched.float(), 5, stride=1, padding=2) < 0.5  # (B, 1, h, w)
    return inside, touched, far


@torch.no_grad()
def locality(vae, sources: torch.Tensor, targets: torch.Tensor, regions: torch.Tensor) -> dict:
    """The measures of the docstring on scenes whose source and target drawings differ only in ``regions``."""
    z_src, z_tgt = encode(vae, sources), encode(vae, targets)  # (B, C, h, w) each
    inside, touched, far = object_cells(regions, sources.shape[-1] // z_src.shape[-1])
    change = (z_tgt - z_src).abs().mean(1, keepdim=True)  # (B, 1, h, w)
    patchwork = torch.where(touched, z_src, z_tgt)  # (B, C, h, w): the source's latent on the object
    over_object = {name: psnr_outside(decode(vae, z), sources, regions).mean().item()
                   for name, z in (("patchwork", patchwork), ("source", z_src), ("target", z_tgt))}
    return {"change_ratio": (change[inside].mean() / change[far].mean()).item(), **over_object}


@torch.no_grad()
def round_trip(vae, images: torch.Tensor) -> float:
    """Mean PSNR (dB) of decode(encode(images)) against images (B, 3, H, W)."""
    return psnr(decode(vae, encode(vae, images)), images).mean().item()


def candidate_vae(keep_attention: bool, model_dir: Path | None = None):
    """The embedded VAE's architecture (with or without the mid-block attention), the weights of
    ``model_dir``'s VAE (default: the shipped model's) loaded."""
    from diffusers import AutoencoderKL

    from ..models.loading import embedded_dir
    from ..train.config import vae_config

    vae = AutoencoderKL(**vae_config(), mid_block_add_attention=keep_attention)
    start = AutoencoderKL.from_pretrained(Path(model_dir or embedded_dir()) / "vae").state_dict()
    vae.load_state_dict({k: v for k, v in start.items() if k in vae.state_dict()})
    return vae
