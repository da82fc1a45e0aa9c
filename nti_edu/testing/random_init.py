"""Randomly initialised Stable-Diffusion-shaped components, for offline tests and speed benchmarks.

Nothing can be downloaded here, so tests build tiny seeded components of SD's architecture (as
diffusers' own pipeline tests do), save them in SD's folder layout and load them back through the real
``from_pretrained`` path. ``save_random_sd(..., unet_config=SD15_UNET_CONFIG)`` (SD 1.5's public UNet
config, from ``nti_edu.models.sd15``) gives a random UNet that costs the same per call as the real one.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import torch

from ..models.portable import write_portable_text_encoder
from ..models.sd15 import SD15_UNET_CONFIG, SD_SCHEDULER_CONFIG  # noqa: F401 (re-exported for tests)
from .clip_tokenizer import byte_level_alphabet

TINY_UNET_CONFIG = {  # diffusers' pipeline tests use the same shape
    "sample_size": 16, "in_channels": 4, "out_channels": 4, "layers_per_block": 1,
    "block_out_channels": (8, 16), "cross_attention_dim": 32, "attention_head_dim": 4, "norm_num_groups": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"), "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D")}

TINY_VAE_CONFIG = {  # 32x32x3 images <-> 16x16x4 latents
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": (8, 16), "layers_per_block": 1,
    "norm_num_groups": 4, "sample_size": 32, "scaling_factor": 0.18215,
    "down_block_types": ("DownEncoderBlock2D",) * 2, "up_block_types": ("UpDecoderBlock2D",) * 2}


def tiny_clip_config(vocab_size: int) -> dict:
    return {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 77, "projection_dim": 32,
            "bos_token_id": vocab_size - 2, "eos_token_id": vocab_size - 1, "pad_token_id": vocab_size - 1}


def write_tiny_clip_tokenizer(folder: Path) -> int:
    """A real CLIP byte-level BPE tokenizer with a tiny vocabulary (every byte, no merges but one).

    Returns its vocabulary size.
    """
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = byte_level_alphabet()
    tokens = chars + [c + "</w>" for c in chars] + ["th", "<|startoftext|>", "<|endoftext|>"]
    vocab, merges = {tok: i for i, tok in enumerate(tokens)}, [("t", "h")]
    if "vocab" in inspect.signature(CLIPTokenizer.__init__).parameters:  # transformers >= 5
        tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    else:
        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "merges.txt").write_text("#version: 0.2\nt h\n")
        tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(folder)
    return len(tokens)


def save_random_sd(folder: str | Path, seed: int = 0, unet_config: dict | None = None) -> Path:
    """Write seeded random SD-shaped components in SD's folder layout; tiny unless told otherwise."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    vocab_size = write_tiny_clip_tokenizer(folder / "tokenizer")
    torch.manual_seed(seed)
    unet_config = dict(unet_config or TINY_UNET_CONFIG)
    UNet2DConditionModel(**unet_config).save_pretrained(folder / "unet")
    AutoencoderKL(**TINY_VAE_CONFIG).save_pretrained(folder / "vae")
    clip = tiny_clip_config(vocab_size) | {"hidden_size": unet_config["cross_attention_dim"]}
    CLIPTextModel(CLIPTextConfig(**clip)).save_pretrained(folder / "text_encoder")
    write_portable_text_encoder(folder / "text_encoder")  # the hub's key layout, as SD 1.5's own files
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD_SCHEDULER_CONFIG, indent=2))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return folder


def sd15_shaped_model(device: str, folder: Path, unet: str = "full"):
    """Stable Diffusion 1.5's UNet with random weights, plus a tiny VAE and text encoder (width 768);
    ``unet="tiny"``: a test-sized UNet instead, for a CPU smoke run of the same code."""
    from diffusers import UNet2DConditionModel

    from ..models import load_model

    config = SD15_UNET_CONFIG if unet == "full" else TINY_UNET_CONFIG
    width = {"cross_attention_dim": config["cross_attention_dim"]}
    model = load_model(str(save_random_sd(folder, unet_config=TINY_UNET_CONFIG | width)))
    torch.manual_seed(0)
    with torch.device(device):
        model.unet = UNet2DConditionModel(**config).requires_grad_(False).eval()
    millions = sum(p.numel() for p in model.unet.parameters()) / 1e6
    name = "Stable Diffusion 1.5's UNet" if unet == "full" else "a test-sized UNet (smoke run of this section)"
    return model.to(device), f"{name}, random weights ({millions:.1f}M parameters)"
