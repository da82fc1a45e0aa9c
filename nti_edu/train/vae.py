"""Stage 1: the AutoencoderKL, trained to reconstruct world images (Rombach et al. 2022, sec. 3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import vae_config
from .loop import Stage


def build_vae(cfg):
    from diffusers import AutoencoderKL

    torch.manual_seed(cfg.seed)
    return AutoencoderKL(**vae_config(cfg.smoke)).to(cfg.device)


def vae_loss(vae, kl_weight: float):
    """Reconstruction (L1 + L2, in [-1, 1]) of a posterior sample, plus a tiny KL to N(0, I)."""

    def loss_fn(images, prompts, generator):
        x = images * 2 - 1  # (B, 3, 64, 64) in [-1, 1]
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator,
                                                         device=x.device)  # (B, 4, 16, 16)
        recon = vae.decode(z).sample  # (B, 3, 64, 64)
        return F.l1_loss(recon, x) + F.mse_loss(recon, x) + kl_weight * posterior.kl().mean()

    return loss_fn


def vae_stage(cfg, vae) -> Stage:
    return Stage(name="vae", modules={"vae": vae}, loss_fn=vae_loss(vae, cfg.vae_kl_weight), steps=cfg.vae_steps,
                 batch_size=cfg.vae_batch, lr=cfg.vae_lr, base_seed=0)


def decoder_loss(vae):
    """Round trip through the posterior mean with the encoder frozen: only the decoder learns.

    The latent space the UNet was trained on stays exactly as it was (SD's "ft-MSE" VAE did the same).
    """

    def loss_fn(images, prompts, generator):
        x = images * 2 - 1  # (B, 3, 64, 64) in [-1, 1]
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean  # (B, 4, 16, 16)
        recon = vae.decode(z).sample  # (B, 3, 64, 64)
        return F.l1_loss(recon, x) + F.mse_loss(recon, x)

    return loss_fn


def decoder_modules(vae) -> torch.nn.ModuleDict:
    """The parts of the VAE after the latent: what the decoder stage trains and saves."""
    return torch.nn.ModuleDict({"decoder": vae.decoder, "post_quant_conv": vae.post_quant_conv})


def decoder_stage(cfg, vae) -> Stage:
    """Stage 3 (optional): fine-tune the decoder (and post_quant_conv) for a sharper round trip."""
    vae.requires_grad_(False)
    decoder = decoder_modules(vae).requires_grad_(True)
    return Stage(name="decoder", modules={"decoder": decoder}, loss_fn=decoder_loss(vae), steps=cfg.decoder_steps,
                 batch_size=cfg.vae_batch, lr=cfg.decoder_lr, base_seed=700_000_000)


@torch.no_grad()
def latent_scaling_factor(vae, images: torch.Tensor) -> float:
    """1 / std of the posterior means, so that the UNet sees unit-variance latents (SD's 0.18215 came from this)."""
    vae.eval()
    std = vae.encode(images * 2 - 1).latent_dist.mean.std().item()
    vae.train()
    return 1.0 / std
