"""A Stable-Diffusion-1.5-shaped stand-in: SD 1.5's block structure and tokenizer, small widths, random weights.

Faithful where the package's code paths depend on it: the UNet's down/up block types and cross-attention
placement (attention at 64, 32, 16 for a 512x512 image, none at 8 but the mid block's), a 768-wide text context
of 77 positions, the real CLIP tokenizer (49408 tokens), the VAE's factor 8 and ``scaling_factor`` 0.18215,
SD's scheduler file. Only the channel widths (and the text encoder's depth) shrink, so a 512x512 image runs on
a CPU in seconds (2 cores: encode 0.2-0.5 s, a UNet call 0.75 s, mostly self-attention over 64x64 = 4096 positions,
decode 0.4-0.5 s); ``widths="sd15"`` keeps SD 1.5's own widths (random weights: the real model's cost per call).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..models.portable import write_portable_text_encoder
from ..models.sd15 import (SD15_SCHEDULER_FILE, SD15_TEXT_ENCODER_CONFIG, SD15_UNET_CONFIG,
                           SD15_VAE_CONFIG)
from .clip_tokenizer import write_clip_tokenizer

SMALL = {  # SD 1.5's configs with small widths; norm groups divide every width
    "unet": SD15_UNET_CONFIG | {"block_out_channels": (32, 64, 64, 64), "norm_num_groups": 8},
    "vae": SD15_VAE_CONFIG | {"block_out_channels": (16, 32, 32, 32), "norm_num_groups": 8},
    "text_encoder": SD15_TEXT_ENCODER_CONFIG | {"intermediate_size": 1536, "num_hidden_layers": 2},
}
SD15 = {"unet": SD15_UNET_CONFIG, "vae": SD15_VAE_CONFIG, "text_encoder": SD15_TEXT_ENCODER_CONFIG}
WIDTHS = {"small": SMALL, "sd15": SD15}


def standin_configs(widths: str = "small") -> dict:
    """The three components' configs: ``"small"`` (seconds per 512x512 image on a CPU) or ``"sd15"`` (SD's own)."""
    if widths not in WIDTHS:
        raise ValueError(f"widths must be one of {sorted(WIDTHS)}, got {widths!r}")
    return WIDTHS[widths]


def save_sd15_standin(folder: str | Path, seed: int = 0, widths: str = "small", device="cpu") -> Path:
    """Write a seeded random SD-1.5-shaped model in SD's folder layout; ``load_model(str(folder))`` loads it.
    ``device``: where the weights are drawn (``"cuda"`` initialises SD's real widths in seconds; the numbers
    then differ from the CPU's for the same seed)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    configs, folder = standin_configs(widths), Path(folder)
    write_clip_tokenizer(folder / "tokenizer")
    torch.manual_seed(seed)
    with torch.device(device):
        UNet2DConditionModel(**configs["unet"]).save_pretrained(folder / "unet")
        AutoencoderKL(**configs["vae"]).save_pretrained(folder / "vae")
        CLIPTextModel(CLIPTextConfig(**configs["text_encoder"])).save_pretrained(folder / "text_encoder")
    write_portable_text_encoder(folder / "text_encoder")  # the hub's key layout, read by transformers 4 and 5
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_SCHEDULER_FILE, indent=2))
    index = {"_class_name": "StableDiffusionPipeline", "nti_edu_standin": f"sd15 {widths} widths, seed {seed}"}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


def main(argv=None) -> None:
    """``python -m nti_edu.testing FOLDER [--seed 0] [--widths small|sd15]``: write the stand-in."""
    import argparse

    parser = argparse.ArgumentParser(description="Write the SD-1.5 stand-in (random weights) into FOLDER.")
    parser.add_argument("folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--widths", choices=sorted(WIDTHS), default="small")
    parser.add_argument("--device", default="cpu", help="where the weights are drawn (cpu, cuda)")
    args = parser.parse_args(argv)
    print(save_sd15_standin(args.folder, seed=args.seed, widths=args.widths, device=args.device))
