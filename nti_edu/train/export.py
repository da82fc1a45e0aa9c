"""Write a trained run as a model folder in Stable Diffusion's layout, with checksums."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from .. import __version__
from ..models.portable import write_portable_text_encoder
from ..models.sd15 import SD_SCHEDULER_CONFIG
from ..world.tokenizer import save_tokenizer
from .checkpoint import load_checkpoint
from .vae import decoder_modules


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checksums(folder: Path) -> dict:
    """checksums.json: sha256 of every file in the folder (but itself), by relative path."""
    sums = {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "checksums.json"}
    (folder / "checksums.json").write_text(json.dumps(sums, indent=1) + "\n")
    return sums


def fit_record(states: dict) -> dict:
    """What a budgeted run (``--minutes``) measured and fitted, per stage, from the checkpoints (train/budget.py):
    {"seconds_per_step": {"unet": 0.031, ...}, "fitted_steps": {...}, "requested_steps": {...}}; {} without one."""
    record = {}
    for name, state in states.items():
        for key in ("seconds_per_step", "fitted_steps", "requested_steps"):
            if state is not None and key in state["extra"]:
                record.setdefault(key, {})[name] = state["extra"][key]
    return record


def export_model(run_dir: Path, out_dir: Path, vae, text_encoder, unet, tokenizer, info: dict) -> Path:
    """Load the run's final weights (EMA for UNet and text encoder) into the modules and save them."""
    vae_state, unet_state = load_checkpoint(run_dir / "vae.pt"), load_checkpoint(run_dir / "unet.pt")
    vae.load_state_dict(vae_state["modules"]["vae"])
    decoder_state = load_checkpoint(run_dir / "decoder.pt")  # the optional decoder fine-tune
    if decoder_state is not None:
        decoder_modules(vae).load_state_dict(decoder_state["modules"]["decoder"])
    vae.register_to_config(scaling_factor=unet_state["extra"]["scaling_factor"])
    unet.load_state_dict(unet_state["ema"]["unet"])
    text_encoder.load_state_dict(unet_state["ema"]["text_encoder"])
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for name, module in (("vae", vae), ("unet", unet), ("text_encoder", text_encoder)):
        module.to("cpu").save_pretrained(tmp / name, safe_serialization=True)
    write_portable_text_encoder(tmp / "text_encoder")  # read alike by transformers 4 and 5
    save_tokenizer(tmp / "tokenizer", tokenizer)  # loadable by transformers 4 and 5
    (tmp / "scheduler").mkdir()
    (tmp / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD_SCHEDULER_CONFIG, indent=2) + "\n")
    steps = {"vae_steps": vae_state["step"], "unet_steps": unet_state["step"],
             "decoder_steps": decoder_state["step"] if decoder_state else 0}
    fits = fit_record({"vae": vae_state, "unet": unet_state, "decoder": decoder_state})
    index = {"_class_name": "nti_edu.EmbeddedModel", "nti_edu_version": __version__,
             "training": info | steps | fits}
    (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    write_checksums(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir
