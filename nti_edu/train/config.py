"""The embedded model's architecture and training settings, one comment per default.

The model is Stable Diffusion's shape, scaled down for 64x64 images of the synthetic world:
AutoencoderKL 64x64x3 <-> 16x16x4 latents, a CLIPTextModel over the world's words, and a
UNet2DConditionModel with cross-attention at its two coarser levels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

IMAGE_SIZE = 64  # the world's images are 64x64 RGB
LATENT_SIZE = 16  # the VAE downsamples by 4 (three blocks)


def vae_config(smoke: bool = False) -> dict:
    """AutoencoderKL: 3 blocks of (32, 64, 64) channels; ~1M parameters (smoke: a few thousand)."""
    channels = (8, 8, 8) if smoke else (32, 64, 64)
    return {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": channels,
            "layers_per_block": 1, "norm_num_groups": 8 if smoke else 16, "sample_size": IMAGE_SIZE,
            "down_block_types": ("DownEncoderBlock2D",) * 3, "up_block_types": ("UpDecoderBlock2D",) * 3,
            "scaling_factor": 1.0}  # replaced by 1 / std of the training latents after VAE training (as SD did)


def unet_config(cross_attention_dim: int, smoke: bool = False) -> dict:
    """UNet2DConditionModel: (32, 64, 128) channels, cross-attention at 8x8 and 4x4; ~4.2M parameters.

    Attention at the finest level (16x16) doubled the CPU cost per call for little gain in this world.
    """
    channels = (8, 16, 16) if smoke else (32, 64, 128)
    return {"sample_size": LATENT_SIZE, "in_channels": 4, "out_channels": 4, "layers_per_block": 1,
            "block_out_channels": channels, "cross_attention_dim": cross_attention_dim,
            "attention_head_dim": 4,  # diffusers reads this as the number of heads in UNet2DConditionModel
            "norm_num_groups": 8 if smoke else 16,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")}


def text_config(tokenizer, smoke: bool = False) -> dict:
    """CLIPTextModel over the world's word vocabulary: width 128, 4 layers (causal, as CLIP's)."""
    return {"vocab_size": len(tokenizer), "hidden_size": 16 if smoke else 128,
            "intermediate_size": 32 if smoke else 512, "num_hidden_layers": 1 if smoke else 4,
            "num_attention_heads": 2 if smoke else 4, "max_position_embeddings": tokenizer.model_max_length,
            "projection_dim": 16 if smoke else 128, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}


@dataclass
class TrainConfig:
    """Training settings for both stages; ``smoke`` shrinks everything to run in seconds in tests."""

    out_dir: str = "runs/embedded"  # checkpoints, loss logs and samples go here
    seed: int = 0  # seeds weights, noise and the world's draw order
    device: str = "cpu"  # "cuda" on a GPU
    smoke: bool = False  # tiny models and batches, for tests
    vae_steps: int = 2000  # AutoencoderKL optimiser steps
    vae_batch: int = 32
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6  # SD's VAE keeps the KL term tiny: the latent is almost an autoencoder's
    vae_locality: float = 0.0  # fraction of each VAE batch also trained as patchworks (train/vae.py)
    unet_steps: int = 4000  # UNet + text encoder optimiser steps
    decoder_steps: int = 0  # optional last stage: fine-tune the VAE decoder alone (the latent space stays fixed)
    decoder_lr: float = 2e-4
    decoder_composite: float = 0.0  # fraction of each decoder batch decoded from a patchwork of two latents
    unet_batch: int = 64
    unet_lr: float = 5e-4
    new_kinds: float = 0.0  # share of issue 37's scenes (animals, painted portraits) in every batch; > 0 also
    # grows the tokenizer by their words (new text-encoder rows; world/dataset.py, world/tokenizer.py)
    warmup_steps: int = 200  # linear learning-rate warm-up, then cosine decay to 10%
    prompt_dropout: float = 0.1  # the prompt is replaced by "" this often, so that guidance works
    ema_decay: float = 0.999  # exponential moving average of UNet and text-encoder weights (what ships)
    checkpoint_every: int = 200  # steps between resumable checkpoints
    log_every: int = 20  # steps between loss-log lines
    num_workers: int = 0  # DataLoader workers drawing the world (0: draw in the training process)
    bf16: bool = False  # autocast to bfloat16 on CUDA
    minutes: float = 0.0  # wall-clock budget of the run (0: none, the step counts alone decide; train/budget.py)
    vae_share: float = 0.2  # with --minutes: the stages' proportions of the time, renormalised over
    unet_share: float = 0.7  # the stages that still have steps to run
    decoder_share: float = 0.1
    budget_reserve: float = 0.05  # with --minutes: the fraction kept after the last stage for the export
    calibration_steps: int = 20  # with --minutes: steps timed (after 3 untimed ones) to fit a stage's step count
    extra: dict = field(default_factory=dict)

    @classmethod
    def smoke_test(cls, out_dir: str) -> "TrainConfig":
        return cls(out_dir=out_dir, smoke=True, vae_steps=30, vae_batch=8, unet_steps=60, unet_batch=16, decoder_steps=10,
                   vae_locality=0.5, decoder_composite=0.5,
                   warmup_steps=5, checkpoint_every=10, log_every=5, vae_lr=3e-3, unet_lr=3e-3)

    def to_dict(self) -> dict:
        return asdict(self)
