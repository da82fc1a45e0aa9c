"""Candidate VAEs for vae_locality.py: a model's VAE fine-tuned with the locality term, on the CPU.

    python benchmarks/vae_locality_candidates.py locality          # ~25 min on 2 cores -> runs/vae_candidates/locality
    python benchmarks/vae_locality_candidates.py locality-no-attention
    python benchmarks/vae_locality.py --vae runs/vae_candidates/locality/vae ...   # then measure them

Both fine-tune the VAE of ``--from`` (default: the shipped model), encoder and decoder, for 600 steps
(learning rate 3e-4, warm-up 50) with ``--vae-locality 0.5`` (nti_edu/train/vae.py, ``patchwork_loss``);
the second also drops the mid-block's attention (its weights are not loaded, everything else is). A new
encoder is a new latent space: a UNet trained on the old one does not fit it, so a candidate is a
measurement of the VAE until a UNet is trained on its latents (``python -m nti_edu.train --init-from
MODEL --vae-from runs/vae_candidates/locality/vae ...``). The shipped model's VAE is the ``locality``
candidate of the model shipped before it (commit d92a6c8), then its decoder fine-tuned: see "The
shipped embedded model: how it was made" in benchmarks/README.md. The decoder-only candidate of
vae_locality.md came from the package's own command, on that earlier model:

    python -m nti_edu.train --init-from nti_edu/assets/embedded --out runs/decoder_local --unet-steps 6000 \\
        --decoder-steps 1200 --decoder-composite 0.5 --export runs/embedded_local
"""
from __future__ import annotations

import argparse
from pathlib import Path

from nti_edu.report.locality import candidate_vae
from nti_edu.train.config import TrainConfig
from nti_edu.train.loop import train_stage
from nti_edu.train.vae import vae_stage

CANDIDATES = {"locality": True, "locality-no-attention": False}  # name -> keep the mid-block attention


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(CANDIDATES))
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--out", type=Path, default=Path("runs/vae_candidates"))
    p.add_argument("--from", dest="model_dir", type=Path, default=None,
                   help="the model folder whose VAE to fine-tune (default: the shipped model)")
    args = p.parse_args(argv)
    run_dir = args.out / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(out_dir=str(run_dir), vae_steps=args.steps, vae_locality=0.5, vae_lr=3e-4, warmup_steps=50,
                      checkpoint_every=100, log_every=10)
    vae = candidate_vae(CANDIDATES[args.name], args.model_dir)
    train_stage(vae_stage(cfg, vae), cfg, run_dir)  # resumable, as every stage
    vae.save_pretrained(run_dir / "vae", safe_serialization=True)
    print(f"saved {run_dir / 'vae'}")


if __name__ == "__main__":
    main()
