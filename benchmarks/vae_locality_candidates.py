"""Candidate VAEs for vae_locality.py: the shipped VAE fine-tuned with the locality term, on the CPU.

    python benchmarks/vae_locality_candidates.py locality          # ~25 min on 2 cores -> runs/vae_candidates/locality
    python benchmarks/vae_locality_candidates.py locality-no-attention
    python benchmarks/vae_locality.py --vae runs/vae_candidates/locality/vae ...   # then measure them

Both fine-tune the shipped VAE, encoder and decoder, for 600 steps (learning rate 3e-4, warm-up 50) with
``--vae-locality 0.5`` (nti_edu/train/vae.py, ``patchwork_loss``); the second also drops the mid-block's
attention (its weights are not loaded, everything else is). A new encoder is a new latent space: the
shipped UNet does not fit it, so a candidate is a measurement of the VAE, not a model to ship; the next
full training run (benchmarks/gpu_session.sh train) trains VAE and UNet together. The decoder-only
candidate of vae_locality.md came from the package's own command:

    python -m nti_edu.train --init-from nti_edu/assets/embedded --out runs/decoder_local --unet-steps 6000 \\
        --decoder-steps 1200 --decoder-composite 0.5 --export runs/embedded_local
"""
from __future__ import annotations

import argparse
from pathlib import Path

from nti_edu.models.loading import embedded_dir
from nti_edu.train.config import TrainConfig, vae_config
from nti_edu.train.loop import train_stage
from nti_edu.train.vae import vae_stage

CANDIDATES = {"locality": True, "locality-no-attention": False}  # name -> keep the mid-block attention


def candidate_vae(keep_attention: bool):
    """The embedded VAE's architecture (with or without the mid-block attention), the shipped weights loaded."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(**vae_config(), mid_block_add_attention=keep_attention)
    shipped = AutoencoderKL.from_pretrained(embedded_dir() / "vae").state_dict()
    vae.load_state_dict({k: v for k, v in shipped.items() if k in vae.state_dict()})
    return vae


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(CANDIDATES))
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--out", type=Path, default=Path("runs/vae_candidates"))
    args = p.parse_args(argv)
    run_dir = args.out / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(out_dir=str(run_dir), vae_steps=args.steps, vae_locality=0.5, vae_lr=3e-4, warmup_steps=50,
                      checkpoint_every=100, log_every=10)
    vae = candidate_vae(CANDIDATES[args.name])
    train_stage(vae_stage(cfg, vae), cfg, run_dir)  # resumable, as every stage
    vae.save_pretrained(run_dir / "vae", safe_serialization=True)
    print(f"saved {run_dir / 'vae'}")


if __name__ == "__main__":
    main()
