"""Stable Diffusion 1.5's public facts: its hub id and the configs of its components.

Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models", CVPR 2022; the values are
those of ``stable-diffusion-v1-5/stable-diffusion-v1-5``'s ``*/config.json`` and ``scheduler_config.json``.
A random model of these shapes costs the same per call as the real one (``nti_edu.testing`` builds them).
"""
from __future__ import annotations

SD15_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"

SD_SCHEDULER_CONFIG = {  # Stable Diffusion 1.x's noise schedule (its scheduler_config.json's schedule part)
    "_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
    "num_train_timesteps": 1000, "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1,
    "prediction_type": "epsilon"}

SD15_SCHEDULER_FILE = {  # scheduler/scheduler_config.json as the hub has it (a PNDM sampler, the same schedule)
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "trained_betas": None, "clip_sample": False}

SD15_UNET_CONFIG = {  # unet/config.json: attention (CrossAttn blocks) at 64, 32 and 16 going down, 16, 32, 64 up
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280), "cross_attention_dim": 768, "attention_head_dim": 8,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, "norm_num_groups": 32}

SD15_VAE_CONFIG = {  # vae/config.json: 512x512x3 images <-> 64x64x4 latents (3 downsamplings, factor 8)
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2, "norm_num_groups": 32, "sample_size": 512, "scaling_factor": 0.18215,
    "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4}

SD15_TEXT_ENCODER_CONFIG = {  # text_encoder/config.json: CLIP ViT-L/14's text transformer (Radford et al. 2021)
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "projection_dim": 768,
    "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}  # the hub's (unused) special ids, as it has them
