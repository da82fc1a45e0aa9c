"""An attention processor that computes attention explicitly and lets a controller change the
probabilities, installed through diffusers' public API (``unet.set_attn_processor``) only.

The official Prompt-to-Prompt code replaced the ``forward`` of diffusers' attention modules, which
broke whenever those private internals changed (diffusers 0.11 to 0.15). A processor is the public
extension point: diffusers calls ``processor(attn, hidden_states, encoder_hidden_states, ...)`` and
the module's public helpers (``to_q``, ``head_to_batch_dim``, ``get_attention_scores``, ...) do the
rest. The steps follow diffusers' own ``AttnProcessor``, with the controller called on the
probabilities softmax(Q K^T / sqrt(d)) (Vaswani et al. 2017, eq. 1) of every layer it ``reads``.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F


class ControlledAttnProcessor:
    """Explicit attention for one layer (``name``), with ``controller`` called on its probabilities."""

    def __init__(self, controller, name: str):
        self.controller, self.name = controller, name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs) -> torch.Tensor:
        residual, is_cross = hidden_states, encoder_hidden_states is not None
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        image_shape = hidden_states.shape if hidden_states.ndim == 4 else None
        if image_shape is not None:  # (B, C, H, W) -> (B, H * W, C)
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states  # (B, K, D)
        attention_mask = attn.prepare_attention_mask(attention_mask, context.shape[1], context.shape[0])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        # 1. queries from the pixels, keys and values from the context, heads folded into the batch
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))  # (B * heads, P, d)
        key = attn.head_to_batch_dim(attn.to_k(context))  # (B * heads, K, d)
        value = attn.head_to_batch_dim(attn.to_v(context))  # (B * heads, K, d)
        # 2. the attention probabilities, which the controller may change, then the weighted values; a layer the
        # controller never reads (SD's 64 x 64 self-attention: 4096 x 4096 per head) runs fused, as diffusers' own
        # processor does, without materialising its probabilities
        if self.controller.reads(is_cross=is_cross, pixels=query.shape[1]):
            probs = attn.get_attention_scores(query, key, attention_mask)  # (B * heads, P, K)
            probs = self.controller(probs, is_cross=is_cross, name=self.name, heads=attn.heads)
            weighted = torch.bmm(probs, value)  # (B * heads, P, d)
        else:
            weighted = fused_attention(query, key, value, attention_mask, attn.heads, attn.scale)  # (B * heads, P, d)
        # 3. heads unfolded, output projection and dropout
        hidden_states = attn.batch_to_head_dim(weighted)  # (B, P, heads * d)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))  # (B, P, C)
        if image_shape is not None:
            hidden_states = hidden_states.transpose(1, 2).reshape(image_shape)  # (B, C, H, W)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def fused_attention(query, key, value, mask, heads: int, scale: float) -> torch.Tensor:
    """softmax(Q K^T * scale) V without the probabilities in memory: (B * heads, P, d). Heads go back into their
    own dimension first: given 3-d tensors, PyTorch's CPU kernel falls back to the explicit computation."""
    def split(x):
        return x.view(-1, heads, *x.shape[1:])  # (B, heads, ., .)

    mask = None if mask is None else split(mask)
    return F.scaled_dot_product_attention(split(query), split(key), split(value), attn_mask=mask,
                                          scale=scale).flatten(0, 1)


@contextmanager
def attention_control(unet, controller, latent_shape):
    """Within the block, every attention layer of ``unet`` runs a ``ControlledAttnProcessor`` calling
    ``controller``; the original processors are put back afterwards, even after an error.
    """
    original = unet.attn_processors  # {"down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor": ...}
    controller.bind(latent_shape)
    unet.set_attn_processor({name: ControlledAttnProcessor(controller, name.removesuffix(".processor"))
                             for name in original})
    try:
        yield controller
    finally:
        unet.set_attn_processor(dict(original))  # a copy: diffusers pops from the dict it is given
