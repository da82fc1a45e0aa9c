"""Stage 1: the AutoencoderKL, trained to reconstruct world images (Rombach et al. 2022, sec. 3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..world import make_batch
from .config import vae_config
from .loop import Stage


def build_vae(cfg):
    from diffusers import AutoencoderKL

    torch.manual_seed(cfg.seed)
    return AutoencoderKL(**vae_config(cfg.smoke)).to(cfg.device)


def vae_loss(vae, kl_weight: float, locality: float = 0.0):
    """Reconstruction (L1 + L2, in [-1, 1]) of a posterior sample, plus a tiny KL to N(0, I); with
    ``locality`` > 0, plus ``patchwork_loss`` on that fraction of the batch."""

    def loss_fn(images, prompts, generator):
        x = images * 2 - 1  # (B, 3, 64, 64) in [-1, 1]
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator,
                                                         device=x.device)  # (B, 4, 16, 16)
        recon = vae.decode(z).sample  # (B, 3, 64, 64)
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x) + kl_weight * posterior.kl().mean()
        if locality > 0:
            loss = loss + patchwork_loss(vae, x, posterior.mean, locality, generator)
        return loss

    return loss_fn


def patchwork_loss(vae, x, z, fraction: float, generator):
    """Locality of the latent: a patchwork of two images' pixels (``latent_patchwork``) must encode to the
    same patchwork of their latents, and that patchwork of latents must decode to the patchwork of pixels.

    A local blend (Prompt-to-Prompt) keeps the source's latent where the edit must not reach and the
    target's elsewhere; that keeps the source's pixels only if each latent pixel stands for its own
    4 x 4 pixels. An encoder with GroupNorm and a mid-block attention need not: on the embedded model
    trained without this term, an object's latent changes 1.13 times as much as the background's when
    only the background's colour changes (benchmarks/vae_locality.md, which also measures this term).
    The encoder's term is divided by the latents' variance, so that shrinking the latents does not pay.
    """
    n = round(fraction * x.shape[0])
    if n == 0:
        return x.new_zeros(())
    z_mix, x_mix = (t[:n] for t in latent_patchwork(z.detach(), x, fraction, generator))  # (n, 4, h, w), (n, 3, H, W)
    encoded = vae.encode(x_mix).latent_dist.mean  # (n, 4, 16, 16)
    decoded = vae.decode(z_mix).sample  # (n, 3, 64, 64)
    return F.mse_loss(encoded, z_mix) / z.detach().var() + F.l1_loss(decoded, x_mix) + F.mse_loss(decoded, x_mix)


def vae_stage(cfg, vae) -> Stage:
    return Stage(name="vae", modules={"vae": vae}, loss_fn=vae_loss(vae, cfg.vae_kl_weight, cfg.vae_locality),
                 steps=cfg.vae_steps, batch_size=cfg.vae_batch, lr=cfg.vae_lr, base_seed=0)


def decoder_loss(vae, composite: float = 0.0):
    """Round trip through the posterior mean with the encoder frozen: only the decoder learns.

    The latent space the UNet was trained on stays exactly as it was (SD's "ft-MSE" VAE did the same).
    With ``composite`` > 0, that fraction of the batch is decoded from a patchwork of two images'
    latents (see ``latent_patchwork``) and must give the same patchwork of their pixels.
    """

    def loss_fn(images, prompts, generator):
        x = images * 2 - 1  # (B, 3, 64, 64) in [-1, 1]
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean  # (B, 4, 16, 16)
        if composite > 0:
            z, x = latent_patchwork(z, x, composite, generator)
        recon = vae.decode(z).sample  # (B, 3, 64, 64)
        return F.l1_loss(recon, x) + F.mse_loss(recon, x)

    return loss_fn


def latent_patchwork(z, x, fraction: float, generator):
    """For the first ``fraction`` of the batch: each latent gets a random rectangle of another one's (the
    previous image's among those), and its pixels the same rectangle of that image's pixels; the rest of the
    batch is left as it was.

    Why: a local blend (Prompt-to-Prompt) decodes exactly such a patchwork, the source's latent where
    the edit must not reach and the target's elsewhere. Used by the VAE stage's ``patchwork_loss`` and by
    the decoder stage's ``decoder_composite`` (the decoder alone, on the embedded model: the object decoded
    among a new background's latents 16.1 -> 18.3 dB, its own round trip ~28 dB; the encoder is the
    non-local part, benchmarks/vae_locality.md).
    """
    n, side, scale = round(fraction * z.shape[0]), z.shape[-1], x.shape[-1] // z.shape[-1]
    if n == 0:
        return z, x
    size = torch.randint(2, side - 1, (n, 2), generator=generator, device=z.device)  # (n, 2) rectangle sides
    corner = (torch.rand(n, 2, generator=generator, device=z.device) * (side - size + 1)).long()  # (n, 2)
    rows = torch.arange(side, device=z.device)  # (side,)
    inside = [(rows >= corner[:, k, None]) & (rows < (corner + size)[:, k, None]) for k in range(2)]  # 2 x (n, side)
    mask = (inside[0][:, :, None] & inside[1][:, None, :]).float()[:, None]  # (n, 1, side, side)
    pixels = F.interpolate(mask, scale_factor=scale)  # (n, 1, 64, 64), nearest
    other = [torch.roll(t[:n], 1, dims=0) for t in (z, x)]  # image i-1 pasted into image i
    z, x = z.clone(), x.clone()
    z[:n] = other[0] * mask + z[:n] * (1 - mask)  # (n, 4, 16, 16)
    x[:n] = other[1] * pixels + x[:n] * (1 - pixels)  # (n, 3, 64, 64)
    return z, x


def decoder_modules(vae) -> torch.nn.ModuleDict:
    """The parts of the VAE after the latent: what the decoder stage trains and saves."""
    return torch.nn.ModuleDict({"decoder": vae.decoder, "post_quant_conv": vae.post_quant_conv})


def decoder_stage(cfg, vae) -> Stage:
    """Stage 3 (optional): fine-tune the decoder (and post_quant_conv) for a sharper round trip."""
    vae.requires_grad_(False)
    decoder = decoder_modules(vae).requires_grad_(True)
    return Stage(name="decoder", modules={"decoder": decoder}, loss_fn=decoder_loss(vae, cfg.decoder_composite),
                 steps=cfg.decoder_steps, batch_size=cfg.vae_batch, lr=cfg.decoder_lr, base_seed=700_000_000)


SCALE_SEEDS = range(900_000_000, 900_000_512)  # a fixed batch for measuring the latent scale


def measured_scale(vae, cfg) -> float:
    """The VAE's latent_scaling_factor on the fixed batch SCALE_SEEDS (its first 64 in the smoke configuration)."""
    images = make_batch(SCALE_SEEDS[: 64 if cfg.smoke else 512])[0]  # (N, 3, 64, 64)
    return latent_scaling_factor(vae, images.to(next(vae.parameters()).device))


@torch.no_grad()
def latent_scaling_factor(vae, images: torch.Tensor) -> float:
    """1 / std of the posterior means, so that the UNet sees unit-variance latents (SD's 0.18215 came from this)."""
    vae.eval()
    std = vae.encode(images * 2 - 1).latent_dist.mean.std().item()
    vae.train()
    return 1.0 / std
