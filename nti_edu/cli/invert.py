"""``nti-edu invert IMAGE --prompt TEXT --out DIR``: invert one image and check its reconstruction.

``--fast`` runs null-text inversion on ``nti_edu.fast``'s path (the same algorithm and result).

Writes to DIR: ``input.png`` (the image as the model sees it), ``reconstruction.png``,
``inversion.safetensors`` + ``inversion.json`` (``nti_edu.storage``: x_T, the pivots, the per-step
null embeddings, settings and the model's fingerprint; ``nti-edu edit DIR`` reads them) and
``metrics.json`` (PSNR and SSIM of the reconstruction against the input, timings).
"""
from __future__ import annotations

import time

from . import args as a
from .common import IMAGE_RULES, MIN_SIDE_TEXT, add_model_arguments, check_prompt, fit_to_model, \
    load, note, open_rgb, progress_bars, quality, save_png
from .errors import CliError
from .outputs import StagedOutputs

METHODS = ("null-text", "ddim", "negative-prompt", "direct", "random-pivot", "textual-inversion-pivot",
           "textual-inversion")
TUNED = ("null-text", "random-pivot", "textual-inversion-pivot", "textual-inversion")  # --inner-steps applies


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "invert", parents=parents, help="invert an image (DDIM, null-text, negative-prompt or direct inversion)",
        description="Invert IMAGE with its prompt and save what editing needs, plus a reconstruction and its "
                    "PSNR/SSIM. " + IMAGE_RULES.format(min_side=MIN_SIDE_TEXT))
    p.add_argument("image", metavar="IMAGE", help="the image file to invert")
    p.add_argument("--prompt", required=True, help="the source prompt: what the image shows")
    p.add_argument("--method", choices=METHODS, default="null-text",
                   help="null-text (Mokady et al. 2023, default), ddim (plain DDIM inversion at --guidance), "
                        "negative-prompt (Miyake et al. 2023) or direct (Ju et al. 2024); the paper's ablations "
                        "(sec. 4): random-pivot, textual-inversion-pivot (C tuned per step around the pivots), "
                        "textual-inversion (C tuned by the denoising loss, no pivot); nti_edu/ablations.py")
    p.add_argument("--steps", type=a.whole_number, default=50,
                   help="DDIM steps (default 50; null-text: at most 100)")
    p.add_argument("--guidance", type=a.number, default=7.5,
                   help="guidance weight w to reconstruct and edit at (default 7.5); ddim also inverts at it")
    p.add_argument("--inner-steps", type=a.whole_number, default=10,
                   help="null-text: Adam iterations per step at most (default 10, the paper's)")
    p.add_argument("--fast", action="store_true",
                   help="null-text: the same algorithm on nti_edu.fast's fast path (no host sync per inner "
                        "iteration; CUDA graphs on a GPU); see benchmarks/README.md")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    add_model_arguments(p)
    p.set_defaults(run=run)


def null_text_config(args):
    """The settings of null-text inversion, made (and so checked) once, before the model is loaded."""
    from ..null_text import NullTextConfig

    try:
        return NullTextConfig(num_steps=args.steps, w=args.guidance, num_inner_steps=args.inner_steps)
    except ValueError as err:
        raise CliError(f"--steps {args.steps}, --guidance {args.guidance:g}, --inner-steps {args.inner_steps}: "
                       f"{err} (see `nti-edu invert --help`)") from None


def run_method(model, image, config, args):
    """The InversionResult of ``args.method`` for a (1, 3, S, S) image; ``config`` for null-text."""
    progress = progress_bars(args)
    kwargs = {"num_steps": args.steps, "w": args.guidance, "progress": progress}  # checked by the method
    if args.method == "null-text":
        from ..fast import fast_null_text_inversion
        from ..null_text import null_text_inversion

        method = fast_null_text_inversion if args.fast else null_text_inversion
        return method(model, image, args.prompt, config, progress=progress)
    if args.method in TUNED:  # the paper's ablations, with null-text inversion's settings
        from .. import ablations

        if args.method == "textual-inversion":
            return ablations.textual_inversion(model, image, args.prompt, num_inner_steps=config.num_inner_steps,
                                               **kwargs)
        method = ablations.random_pivot_inversion if args.method == "random-pivot" else \
            ablations.pivotal_textual_inversion
        return method(model, image, args.prompt, config, progress=progress)
    if args.method == "ddim":
        from ..inversion import invert

        return invert(model, image, args.prompt, **kwargs)
    from ..alternatives import direct_inversion, negative_prompt_inversion

    method = negative_prompt_inversion if args.method == "negative-prompt" else direct_inversion
    return method(model, image, args.prompt, **kwargs)


def run(args) -> dict:
    from ..reconstruction import reconstruct
    from ..storage import save_result
    from ..world_fit import say_if_outside

    if args.fast and args.method != "null-text":
        raise CliError(f"--fast is for --method null-text; --method {args.method} has no inner loop to speed up")
    config = null_text_config(args) if args.method in TUNED else None  # 1. the cheap checks first
    img = open_rgb(args.image)  # the file, the folder
    with StagedOutputs(args.out) as out:
        model = load(args)  # 2. then the model, and the checks that need it
        check_prompt(model, args.prompt)
        image = fit_to_model(img, model.image_size, args.image).to(model.device)  # (1, 3, S, S)
        say_if_outside(model, image, [args.image], note)  # a photo on the embedded model: one note
        start = time.perf_counter()
        result = run_method(model, image, config, args)  # 3. the work (the methods check steps and w once)
        recon = reconstruct(model, result, progress=progress_bars(args))  # (1, 3, S, S)
        metrics = {"method": args.method, "fast": args.fast, "prompt": args.prompt, "num_steps": args.steps,
                   "w": args.guidance, "model": model.name, "device": str(model.device), **quality(recon, image),
                   "seconds": round(time.perf_counter() - start, 2)}
        save_result(result, out.staging, model)
        save_png(image, out.path("input.png"))
        save_png(recon, out.path("reconstruction.png"))
        out.write_json("metrics.json", metrics)
    path = " (fast path)" if args.fast else ""
    print(f"{args.method} inversion{path}, {args.steps} steps, w = {args.guidance:g}: reconstruction PSNR "
          f"{metrics['psnr_db']:.2f} dB" + (f", SSIM {metrics['ssim']:.3f}" if "ssim" in metrics else "")
          + f" ({metrics['seconds']:.1f} s) -> {args.out}")
    return metrics
