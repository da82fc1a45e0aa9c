"""python -m nti_edu.train: train the embedded model (resumable) and export it.

Examples:
    python -m nti_edu.train --out runs/embedded --export nti_edu/assets/embedded          # CPU, hours
    python -m nti_edu.train --device cuda --bf16 --workers 12 --unet-batch 256 --unet-steps 20000
    python -m nti_edu.train --smoke --out /tmp/smoke                                      # seconds
Run the same command again to resume from the last checkpoint; raise --vae-steps/--unet-steps to go on.
    python -m nti_edu.train --device cuda ... --unet-steps 30000 --minutes 4.5 --export runs/gpu/embedded
        # a wall-clock budget: each stage times its first steps, then fits its step count (and its
        # learning-rate schedule) to its share of the 4.5 min (train/budget.py); it always ends exported
    python -m nti_edu.train --init-from nti_edu/assets/embedded --out runs/more --unet-steps 6000 \
        --export nti_edu/assets/embedded          # go on from an exported model whose run folder is gone
    python -m nti_edu.train --vae-locality 0.5 ...  # a VAE whose latent is local, for local blends
                                                    # (benchmarks/vae_locality.md)
    python -m nti_edu.train --init-from nti_edu/assets/embedded --vae-from runs/vae_candidates/locality/vae \
        --out runs/unet_local --unet-steps 7500   # the UNet goes on on another VAE's latents
"""
from __future__ import annotations

import argparse
from dataclasses import fields

from .config import TrainConfig
from .run import export_only, train


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m nti_edu.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/embedded", help="run folder (checkpoints, logs)")
    p.add_argument("--export", default=None, help="write the trained model folder here at the end")
    p.add_argument("--smoke", action="store_true", help="tiny models and batches, for tests")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers drawing the world")
    p.add_argument("--init-from", default=None,
                   help="an exported model folder to go on training from, in a new --out folder")
    p.add_argument("--vae-from", default=None,
                   help="with --init-from: a bare AutoencoderKL folder whose VAE replaces the exported one")
    p.add_argument("--export-only", action="store_true", help="export the latest checkpoints without training")
    for f in fields(TrainConfig):
        if f.name in ("out_dir", "smoke", "num_workers", "extra"):
            continue
        kind = type(f.default)
        if kind is bool:
            p.add_argument("--" + f.name.replace("_", "-"), action="store_true")
        else:
            p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None)
    return p.parse_args(argv)


def config_from_args(args) -> TrainConfig:
    cfg = TrainConfig.smoke_test(args.out) if args.smoke else TrainConfig(out_dir=args.out)
    cfg.num_workers = args.workers
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        given = value is not None and value is not False  # not `not in (None, False)`: 0 == False in Python
        if given and f.name not in ("out_dir", "smoke", "num_workers", "extra"):
            setattr(cfg, f.name, value)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.export_only:
        if not args.export:
            raise SystemExit("--export-only needs --export FOLDER")
        print(f"exported to {export_only(config_from_args(args), args.export)}")
        return
    info = train(config_from_args(args), export_to=args.export, init_from=args.init_from,
                 vae_from=args.vae_from)
    print(f"done: {info}")


if __name__ == "__main__":
    main()
