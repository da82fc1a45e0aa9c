"""``nti-edu sdedit IMAGE --prompt TARGET --strength T0 --out DIR``: SDEdit, the edit that inverts nothing.

Meng et al., "SDEdit", ICLR 2022 (the null-text paper's baseline, sec. 5): the image's latent noised to
t0 = strength * T, then denoised with the target prompt (``nti_edu.ablations.sdedit``). Small strengths keep
the image and barely edit; large ones edit and forget it. Writes ``input.png``, ``sdedit.png`` and
``metrics.json`` (PSNR/SSIM of the edit against the input, timing).
"""
from __future__ import annotations

import time

from . import args as a
from .common import IMAGE_RULES, MIN_SIDE_TEXT, add_model_arguments, check_prompt, check_steps, fit_to_model, \
    load, open_rgb, progress_bars, quality, save_png
from .outputs import StagedOutputs


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "sdedit", parents=parents, help="edit an image with SDEdit (noise to a strength, denoise with a prompt)",
        description="Noise IMAGE to t0 = STRENGTH x T and denoise it with the target prompt (SDEdit, Meng et al. "
                    "2022): no inversion. " + IMAGE_RULES.format(min_side=MIN_SIDE_TEXT))
    p.add_argument("image", metavar="IMAGE", help="the image file to edit")
    p.add_argument("--prompt", required=True, help="the target prompt: what the edited image should show")
    p.add_argument("--strength", type=a.fraction, required=True,
                   help="t0 / T, from 0 (the image through the autoencoder) to 1 (the image ignored)")
    p.add_argument("--steps", type=a.step_count, default=50, help="DDIM steps of the whole schedule (default 50)")
    p.add_argument("--guidance", type=a.guidance, default=7.5, help="guidance weight w (default 7.5)")
    p.add_argument("--seed", type=a.count, default=0, help="the noise's seed (default 0)")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    add_model_arguments(p)
    p.set_defaults(run=run)


def run(args) -> dict:
    from ..ablations import sdedit

    img = open_rgb(args.image)
    with StagedOutputs(args.out) as out:
        model = load(args)
        check_prompt(model, args.prompt)
        check_steps(model, args.steps)
        image = fit_to_model(img, model.image_size, args.image).to(model.device)  # (1, 3, S, S)
        start = time.perf_counter()
        edited = sdedit(model, image, args.prompt, strength=args.strength, num_steps=args.steps, w=args.guidance,
                        seed=args.seed, progress=progress_bars(args))  # (1, 3, S, S)
        metrics = {"method": "sdedit", "prompt": args.prompt, "strength": args.strength, "num_steps": args.steps,
                   "w": args.guidance, "seed": args.seed, "model": model.name, **quality(edited, image),
                   "seconds": round(time.perf_counter() - start, 2)}
        save_png(image, out.path("input.png"))
        save_png(edited, out.path("sdedit.png"))
        out.write_json("metrics.json", metrics)
    print(f"SDEdit at strength {args.strength:g}, {args.steps} steps, w = {args.guidance:g}: PSNR to the input "
          f"{metrics['psnr_db']:.2f} dB ({metrics['seconds']:.1f} s) -> {args.out}")
    return metrics
