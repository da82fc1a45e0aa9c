"""eps_theta(x_t, t, emb) split in two: the part that never sees the prompt embedding, and the rest.

During one inner loop of null-text inversion x_t and t stay fixed and only the null embedding
changes (Mokady et al. 2023, Algorithm 1). The UNet's time embedding, its first convolution and every
leading down block without cross-attention depend on (x_t, t) alone, so they can be computed once per
sampling step and reused by every inner iteration, the conditional prediction and the final guided
step. ``rest_of_unet`` then runs the remaining blocks exactly as diffusers' ``UNet2DConditionModel.forward``
does, for Stable-Diffusion-like configurations (``can_split`` says which).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PromptFreePart:
    """What the UNet computes before the first block that reads the prompt embedding."""

    temb: torch.Tensor  # (B, T) time embedding
    h: torch.Tensor  # (B, c, h', w') hidden states after the prompt-free down blocks
    skips: tuple  # skip connections collected so far, each (B, c, h', w')
    num_blocks: int  # how many down blocks were run


def can_split(unet, x_t: torch.Tensor) -> bool:
    """True when ``rest_of_unet(prompt_free_part(...))`` follows this UNet's own forward for x_t's shape:
    no class, added or image conditioning, no activation after the time embedding, and a latent side
    divisible by the total upsampling factor (so that no explicit upsample size is passed)."""
    c = unet.config
    plain = (getattr(unet, "class_embedding", None) is None and c.addition_embed_type is None
             and getattr(unet, "encoder_hid_proj", None) is None and getattr(unet, "time_embed_act", None) is None
             and not c.center_input_sample)
    return plain and all(side % 2**unet.num_upsamplers == 0 for side in x_t.shape[-2:])


@torch.no_grad()
def prompt_free_part(unet, x_t: torch.Tensor, t: torch.Tensor) -> PromptFreePart:
    """Time embedding, ``conv_in`` and the leading down blocks without cross-attention, at (x_t, t)."""
    temb = unet.time_embedding(unet.get_time_embed(sample=x_t, timestep=t), None)  # (B, T)
    h = unet.conv_in(x_t)  # (B, c, h, w)
    skips, n = (h,), 0
    for block in unet.down_blocks:
        if getattr(block, "has_cross_attention", False):
            break
        h, res = block(hidden_states=h, temb=temb)
        skips, n = skips + res, n + 1
    return PromptFreePart(temb=temb, h=h, skips=skips, num_blocks=n)


def rest_of_unet(unet, part: PromptFreePart, emb: torch.Tensor) -> torch.Tensor:
    """The remaining blocks with the prompt embedding emb (B, L, D): eps_pred (B, C, h, w)."""
    h, temb, skips = part.h, part.temb, part.skips
    for block in unet.down_blocks[part.num_blocks:]:
        h, res = run_block(block, h, temb, emb)
        skips = skips + res
    if unet.mid_block is not None:
        h = run_block(unet.mid_block, h, temb, emb)
    for block in unet.up_blocks:
        n = len(block.resnets)
        h = run_block(block, h, temb, emb, res_hidden_states_tuple=skips[-n:])
        skips = skips[:-n]
    if unet.conv_norm_out is not None:
        h = unet.conv_act(unet.conv_norm_out(h))
    return unet.conv_out(h)  # (B, C, h, w)


def run_block(block, h, temb, emb, **kwargs):
    """Call a UNet block as diffusers' forward does: with the prompt only if it has cross-attention."""
    if getattr(block, "has_cross_attention", False):
        kwargs["encoder_hidden_states"] = emb
    return block(hidden_states=h, temb=temb, **kwargs)
