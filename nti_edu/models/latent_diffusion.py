"""One small interface that every model meets: a text-conditioned latent diffusion model.

Stable Diffusion 1.x and the embedded model are both a ``LatentDiffusion``: a diffusers
``UNet2DConditionModel`` (eps-prediction with cross-attention), a diffusers ``AutoencoderKL``, a
transformers ``CLIPTextModel`` and its tokenizer, and the noise schedule read from the scheduler's
config. Only these plain components are used; no diffusers scheduler or pipeline does any work.

Images are float tensors in [0, 1], shaped (B, 3, H, W); latents are (B, C, h, w), already multiplied
by the VAE's ``scaling_factor`` (0.18215 for SD 1.x), as the UNet expects them.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..schedule import NoiseSchedule
from .prompts import tokenize


class LatentDiffusion:
    """Frozen components plus the schedule; every method is a thin, explicit call into them."""

    def __init__(self, unet, vae, text_encoder, tokenizer, schedule: NoiseSchedule, name: str = "model"):
        for module in (unet, vae, text_encoder):
            module.requires_grad_(False)  # only null embeddings are ever optimised
            module.eval()
        self.unet, self.vae, self.text_encoder, self.tokenizer = unet, vae, text_encoder, tokenizer
        self.schedule, self.name = schedule, name

    # -- shapes, device, dtype ---------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def work_dtype(self) -> torch.dtype:
        """What latents, embeddings, DDIM steps and losses are computed in: float32, or float64 for a float64
        model. The components may compute in float16 or bfloat16; their inputs and outputs are cast."""
        return torch.float64 if self.dtype == torch.float64 else torch.float32

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one latent."""
        size = self.unet.config.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return (self.unet.config.in_channels, h, w)

    @property
    def image_size(self) -> int:
        """Side of the square images the model works on (512 for SD 1.5)."""
        return self.latent_shape[1] * self.vae_scale_factor

    def to(self, device=None, dtype=None) -> "LatentDiffusion":
        """Move every component; in ``dtype`` all but the text encoder, which computes in float32 at most.

        transformers 4's CLIP builds its causal mask with float32's ``torch.full`` and cannot run in float64;
        the prompt embeddings are inputs of the UNet, cast to its dtype (``encode_prompt``), so a float64
        model is float64 wherever inversion and sampling compute.
        """
        text_dtype = torch.float32 if dtype == torch.float64 else dtype
        for module, wanted in ((self.unet, dtype), (self.vae, dtype), (self.text_encoder, text_dtype)):
            module.to(device=device)
            if wanted is not None and wanted != module.dtype:
                module.to(dtype=wanted)
        return self

    # -- text ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Prompt embeddings, the UNet's cross-attention context: (B, L, D)."""
        ids = tokenize(self.tokenizer, prompts).to(self.text_encoder.device)  # (B, L)
        emb = self.text_encoder(ids).last_hidden_state  # (B, L, D)
        return emb.to(self.work_dtype)

    def null_embedding(self, batch: int = 1) -> torch.Tensor:
        """The embedding of the empty prompt "", the lecture's phi: (B, L, D)."""
        return self.encode_prompt([""] * batch)

    # -- noise prediction ---------------------------------------------------------------------
    def predict_eps(self, x_t: torch.Tensor, t: int, emb: torch.Tensor) -> torch.Tensor:
        """eps_theta(x_t, t, emb): (B, C, h, w) in x_t's dtype, whatever the UNet computes in. Gradients flow to
        ``emb`` when it requires them (through the cast to the UNet's dtype)."""
        t_batch = torch.full((x_t.shape[0],), int(t), device=x_t.device, dtype=torch.long)  # (B,)
        x_in, emb_in = x_t.to(self.dtype), emb.to(self.dtype)  # no-ops unless the UNet is half precision
        return self.unet(x_in, t_batch, encoder_hidden_states=emb_in).sample.to(x_t.dtype)  # (B, C, h, w)

    def predict_eps_pair(self, x_t, t: int, emb_null, emb_cond) -> tuple[torch.Tensor, torch.Tensor]:
        """The null and conditional predictions in one batched UNet call: two (B, C, h, w) tensors."""
        x_in = torch.cat([x_t, x_t])  # (2B, C, h, w)
        eps = self.predict_eps(x_in, t, torch.cat([emb_null, emb_cond]))  # (2B, C, h, w)
        eps_null, eps_cond = eps.chunk(2)  # 2 x (B, C, h, w)
        return eps_null, eps_cond

    # -- images <-> latents -------------------------------------------------------------------
    @torch.no_grad()
    def image_to_latent(self, images: torch.Tensor) -> torch.Tensor:
        """Encode images in [0, 1] (B, 3, H, W) to scaled latents (B, C, h, w); the posterior mean."""
        self.check_images(images)
        x = images.to(self.vae.device, self.vae.dtype) * 2 - 1  # (B, 3, H, W) in [-1, 1]
        latents = self.vae.encode(x).latent_dist.mean * self.vae.config.scaling_factor  # (B, C, h, w)
        return latents.to(self.work_dtype)

    @torch.no_grad()
    def latent_to_image(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode scaled latents (B, C, h, w) to images in [0, 1] (B, 3, H, W), float32."""
        x = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample  # (B, 3, H, W)
        return ((x.float() + 1) / 2).clamp(0, 1)

    def check_images(self, images) -> None:
        """Raise a ValueError unless images is a (B, 3, S, S) tensor with S = ``image_size``."""
        s = self.image_size
        if not torch.is_tensor(images) or images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"images must be a float tensor of shape (B, 3, {s}, {s}) with values in [0, 1], "
                             f"got {shape}; nti_edu.images.load_image resizes and converts files")

    def check_latents(self, latents) -> None:
        """Raise a ValueError unless latents is a (B, C, h, w) tensor of this model's latent shape."""
        if not torch.is_tensor(latents) or latents.ndim != 4 or tuple(latents.shape[1:]) != self.latent_shape:
            shape = tuple(latents.shape) if torch.is_tensor(latents) else type(latents).__name__
            raise ValueError(f"latents must have shape (B, {', '.join(map(str, self.latent_shape))}), got {shape}")

    def fingerprint(self) -> dict:
        """What identifies this model, saved beside inversions so that an edit can check it."""
        return {"name": self.name, "latent_shape": list(self.latent_shape),
                "cross_attention_dim": self.unet.config.cross_attention_dim, "schedule": self.schedule.to_config()}
