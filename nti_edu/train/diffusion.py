"""Stage 2: the UNet and text encoder, trained with the simple eps loss (Ho et al. 2020, eq. 14)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.prompts import tokenize
from ..schedule import NoiseSchedule
from .config import text_config, unet_config
from .loop import Stage


def build_text_and_unet(cfg, tokenizer):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(cfg.seed + 1)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config(tokenizer, cfg.smoke))).to(cfg.device)
    width = text_encoder.config.hidden_size
    unet = UNet2DConditionModel(**unet_config(width, cfg.smoke)).to(cfg.device)
    return text_encoder, unet


def drop_prompts(prompts: list[str], p: float, generator) -> list[str]:
    """Replace each prompt by "" with probability p, so that the model also learns eps(x_t, t, null)."""
    keep = torch.rand(len(prompts), generator=generator, device=generator.device) >= p  # (B,)
    return [prompt if k else "" for prompt, k in zip(prompts, keep.tolist())]


def diffusion_loss(cfg, vae, text_encoder, unet, tokenizer, schedule: NoiseSchedule, scaling_factor: float):
    """L_simple: || eps - eps_theta(sqrt(a_t) x_0 + sqrt(1 - a_t) eps, t, c) ||^2 on VAE latents."""
    alpha_bar = schedule.alpha_bar.to(cfg.device)  # (T,)

    def loss_fn(images, prompts, generator):
        with torch.no_grad():
            posterior = vae.encode(images * 2 - 1).latent_dist
            x_0 = posterior.sample(generator) * scaling_factor  # (B, 4, 16, 16)
        ids = tokenize(tokenizer, drop_prompts(prompts, cfg.prompt_dropout, generator)).to(cfg.device)  # (B, L)
        t = torch.randint(0, len(alpha_bar), (x_0.shape[0],), generator=generator, device=cfg.device)  # (B,)
        eps = torch.randn(x_0.shape, generator=generator, device=cfg.device)  # (B, 4, 16, 16)
        a = alpha_bar[t].view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        x_t = a.sqrt() * x_0 + (1 - a).sqrt() * eps  # (B, 4, 16, 16), Ho et al. eq. (4)
        with torch.autocast(cfg.device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.bf16):
            emb = text_encoder(ids).last_hidden_state  # (B, L, D)
            eps_pred = unet(x_t, t, encoder_hidden_states=emb).sample  # (B, 4, 16, 16)
        return F.mse_loss(eps_pred.float(), eps)

    return loss_fn


def diffusion_stage(cfg, vae, text_encoder, unet, tokenizer, scaling_factor: float) -> Stage:
    loss_fn = diffusion_loss(cfg, vae, text_encoder, unet, tokenizer, NoiseSchedule.create(), scaling_factor)
    return Stage(name="unet", modules={"unet": unet, "text_encoder": text_encoder}, loss_fn=loss_fn,
                 steps=cfg.unet_steps, batch_size=cfg.unet_batch, lr=cfg.unet_lr, base_seed=500_000_000,
                 ema_names=("unet", "text_encoder"), extra_state={"scaling_factor": scaling_factor})
