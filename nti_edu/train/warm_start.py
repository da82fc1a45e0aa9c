"""Go on training from an exported model folder (e.g. the shipped interim model) when its run folder is gone.

An exported folder holds the VAE and the EMA weights of the UNet and text encoder, but not the online
weights nor Adam's moments. So a warm start writes a run folder in which the VAE stage is finished and
the UNet stage stands at the exported step, with the online weights set to the EMA weights and fresh
Adam moments; the learning rate warms up again from there (fresh moments make the first Adam steps
full-size), then follows the same cosine schedule towards ``cfg.unet_steps``. With ``cfg.unet_steps``
at the exported step and ``cfg.decoder_steps`` > 0, only the decoder trains on (from the exported one).

``vae_from`` (a bare AutoencoderKL folder, e.g. one of benchmarks/vae_locality_candidates.py) replaces the
exported VAE: the UNet then goes on training on the new VAE's latents, scaled by their own measured
scaling factor (a new encoder moves the latents, so the UNet needs those steps to follow it).

A tokenizer with more words than the exported one (issue 37's grown world) gets new text-encoder rows
(``grow_token_rows``); every other weight, and every existing word's row, is warm-started as it was.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..models.portable import PREFIX
from .checkpoint import save_checkpoint
from .diffusion import build_text_and_unet
from .vae import build_vae, measured_scale


def _load_exported(model_dir: Path, cfg, tokenizer, vae_from: Path | None = None):
    """The folder's VAE (or ``vae_from``'s), text encoder and UNet, in freshly built modules of the run's
    architecture."""
    from safetensors.torch import load_file

    vae = build_vae(cfg)
    text_encoder, unet = build_text_and_unet(cfg, tokenizer)
    vae_path = (model_dir / "vae") if vae_from is None else Path(vae_from)
    for folder, module, file in ((vae_path, vae, "diffusion_pytorch_model.safetensors"),
                                 (model_dir / "unet", unet, "diffusion_pytorch_model.safetensors"),
                                 (model_dir / "text_encoder", text_encoder, "model.safetensors")):
        path = folder / file
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (not an exported model folder, or a VAE folder for "
                                    f"--vae-from)")
        state = load_file(path)
        if module is text_encoder:
            state = grow_token_rows(text_encoder_keys(state, module), len(tokenizer), cfg.seed)
        missing, unexpected = module.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if not k.endswith("position_ids")]:  # CLIP may omit position_ids
            raise ValueError(f"{path} does not fit the run's {type(module).__name__}: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
    return vae, text_encoder, unet


def text_encoder_keys(state: dict, text_encoder) -> dict:
    """The saved text encoder's weights under the module's own key names: files keep them under "text_model."
    (models/portable.py), which transformers 5's CLIPTextModel does not use in its own state dict."""
    if any(k.startswith(PREFIX) for k in text_encoder.state_dict()):
        return state
    return {k.removeprefix(PREFIX): v for k, v in state.items()}


def knows_grown_words(folder) -> bool:
    """Does an exported model folder's text encoder hold more rows than today's world has words (issue 37's grown
    tokenizer)? Then a warm start from it keeps the grown tokenizer (embedded@0.2.0 and later); False for None."""
    if folder is None:
        return False
    from ..world.tokenizer import build_tokenizer

    config = json.loads((Path(folder) / "text_encoder" / "config.json").read_text())
    return config["vocab_size"] > len(build_tokenizer(grown=False))


TOKEN_ROWS = "embeddings.token_embedding.weight"  # after text_encoder_keys (transformers 5); 4 adds PREFIX


def grow_token_rows(state: dict, n_tokens: int, seed: int) -> dict:
    """The text encoder's weights with token rows appended up to ``n_tokens`` (the old rows untouched).

    A new row starts as the mean of the old ones plus noise of their per-dimension spread times 0.5: an
    ordinary word to the encoder, and yet distinct, so that the new words can learn apart.
    """
    key = next(k for k in state if k.endswith(TOKEN_ROWS))
    old = state[key]  # (V_old, D)
    if n_tokens < old.shape[0]:
        raise ValueError(f"the tokenizer has {n_tokens} tokens but the exported text encoder {old.shape[0]}: "
                         f"a grown model's tokenizer is needed (train.run picks it for a grown --init-from)")
    noise = torch.randn(n_tokens - old.shape[0], old.shape[1], generator=torch.Generator().manual_seed(seed))
    new = old.mean(0) + 0.5 * old.std(0) * noise  # (V_new - V_old, D)
    return state | {key: torch.cat([old, new.to(old.dtype)])}  # (V_new, D)


def _fresh_optimizer_state(modules: dict) -> dict:
    params = [p for m in modules.values() for p in m.parameters()]
    return torch.optim.AdamW(params, weight_decay=0.0).state_dict()


def warm_start(model_dir: Path, run_dir: Path, cfg, tokenizer, vae_from: Path | None = None) -> int:
    """Write vae.pt and unet.pt in ``run_dir`` from ``model_dir``; return the UNet step it stands at."""
    model_dir, run_dir = Path(model_dir), Path(run_dir)
    if (run_dir / "unet.pt").exists():  # the same command run again: resume, as any run does
        print(f"{run_dir} already holds checkpoints: resuming them (--init-from is used only to start a run)")
        return torch.load(run_dir / "unet.pt", map_location="cpu", weights_only=False)["step"]
    training = json.loads((model_dir / "model_index.json").read_text()).get("training", {})
    unet_step = int(training.get("unet_steps", 0))
    if unet_step > cfg.unet_steps or (unet_step == cfg.unet_steps and cfg.decoder_steps == 0):
        raise ValueError(f"--init-from {model_dir} is already at UNet step {unet_step}; ask for more with "
                         f"--unet-steps (got {cfg.unet_steps}), or for a decoder fine-tune alone with --decoder-steps")
    if vae_from is not None and unet_step == cfg.unet_steps:
        raise ValueError(f"--vae-from {vae_from}: a new VAE needs UNet steps on its latents; ask for more than "
                         f"the exported {unet_step} with --unet-steps")
    vae, text_encoder, unet = _load_exported(model_dir, cfg, tokenizer, vae_from)
    if vae_from is None:
        scale = json.loads((model_dir / "vae" / "config.json").read_text())["scaling_factor"]  # measured at export
    else:
        scale = measured_scale(vae, cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(run_dir / "vae.pt", {"step": cfg.vae_steps, "modules": {"vae": vae.state_dict()}, "ema": {},
                                         "optimizer": _fresh_optimizer_state({"vae": vae}), "extra": {}})
    modules = {"unet": unet, "text_encoder": text_encoder}
    states = {n: m.state_dict() for n, m in modules.items()}
    save_checkpoint(run_dir / "unet.pt", {"step": unet_step, "modules": states, "ema": states,
                                          "optimizer": _fresh_optimizer_state(modules),
                                          "extra": {"scaling_factor": scale, "restart_step": unet_step,
                                                    "init_from": str(model_dir),
                                                    **({} if vae_from is None else {"vae_from": str(vae_from)}),
                                                    "decoder_steps_before": int(training.get("decoder_steps", 0))}})
    return unet_step
