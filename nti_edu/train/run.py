"""Both stages in order, then the export: what ``python -m nti_edu.train`` runs."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..world.tokenizer import build_tokenizer
from . import budget
from .config import TrainConfig
from .diffusion import build_text_and_unet, diffusion_stage
from .export import export_model
from .loop import train_stage
from .vae import build_vae, decoder_stage, measured_scale, vae_stage
from .warm_start import knows_grown_words, warm_start


def train(cfg: TrainConfig, export_to: Path | None = None, init_from: Path | None = None,
          vae_from: Path | None = None) -> dict:
    """Train (or resume) the VAE, then the UNet and text encoder; optionally export the model folder.

    ``init_from``: an exported model folder to go on from, in a new run folder (see warm_start.py);
    ``vae_from``: with it, a bare AutoencoderKL folder whose VAE replaces the exported one.
    With ``cfg.minutes``, the stages share that wall-clock budget, counted from here (see budget.py).
    """
    budget.check_budget(cfg)
    run_dir, begin = Path(cfg.out_dir), budget.clock()  # budget.clock: one clock for the budget, faked in tests
    start = time.perf_counter()
    tokenizer = build_tokenizer(grown=cfg.new_kinds > 0 or knows_grown_words(init_from))  # a grown model stays grown
    if init_from is not None:
        step = warm_start(Path(init_from), run_dir, cfg, tokenizer, vae_from=vae_from)
        print(f"warm start from {init_from} at UNet step {step}" + (f", VAE from {vae_from}" if vae_from else ""))
    elif vae_from is not None:
        raise ValueError("--vae-from replaces the VAE of a warm start: it needs --init-from")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    vae, text_encoder, unet = _train_stages(cfg, run_dir, tokenizer, budget.Budget.plan(cfg, run_dir, begin))
    info = {"device": torch.cuda.get_device_name() if cfg.device.startswith("cuda") else "cpu",
            "seconds_this_run": round(time.perf_counter() - start, 1), "seed": cfg.seed,
            "date": time.strftime("%Y-%m-%d"), "vae_locality": cfg.vae_locality,
            "decoder_composite": cfg.decoder_composite} | ({"new_kinds": cfg.new_kinds} if cfg.new_kinds else {})
    info |= _warm_start_info(run_dir) | ({"minutes": cfg.minutes} if cfg.minutes else {})
    if export_to is not None:
        export_model(run_dir, Path(export_to), vae, text_encoder, unet, tokenizer, info)
    return info


def _train_stages(cfg: TrainConfig, run_dir: Path, tokenizer, time_budget: budget.Budget | None):
    """The VAE, the UNet and text encoder on its measured latent scale, the optional decoder fine-tune."""
    vae = build_vae(cfg)
    train_stage(vae_stage(cfg, vae), cfg, run_dir, time_budget)
    vae.eval().requires_grad_(False)
    scale = measured_scale(vae, cfg)
    text_encoder, unet = build_text_and_unet(cfg, tokenizer)
    train_stage(diffusion_stage(cfg, vae, text_encoder, unet, tokenizer, scale), cfg, run_dir, time_budget)
    if cfg.decoder_steps > 0:
        train_stage(decoder_stage(cfg, vae), cfg, run_dir, time_budget)
    return vae, text_encoder, unet


def _warm_start_info(run_dir: Path) -> dict:
    """Where a warm-started run came from (recorded in the exported model_index.json)."""
    extra = torch.load(run_dir / "unet.pt", map_location="cpu", weights_only=False)["extra"]
    return {k: extra[k] for k in ("init_from", "vae_from", "restart_step", "decoder_steps_before") if k in extra}


def export_only(cfg: TrainConfig, export_to: Path) -> Path:
    """Export the run's latest checkpoints as they are (e.g. an interim model while training goes on)."""
    started = _warm_start_info(Path(cfg.out_dir))
    tokenizer = build_tokenizer(grown=cfg.new_kinds > 0 or knows_grown_words(started.get("init_from")))
    text_encoder, unet = build_text_and_unet(cfg, tokenizer)
    info = {"device": "see run config", "note": "exported from the latest checkpoints", "seed": cfg.seed,
            "date": time.strftime("%Y-%m-%d")} | started
    return export_model(Path(cfg.out_dir), Path(export_to), build_vae(cfg), text_encoder, unet, tokenizer, info)
