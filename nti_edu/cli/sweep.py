"""``nti-edu sweep IMAGE --prompt TEXT --out DIR``: plain DDIM inversion over a grid of step counts and
guidance weights (``nti_edu.sweeps``), inverting and sampling at the same w.

The lecture's two claims, measured on one image: more steps, less drift (the inverse step's
small-interval approximation, Mokady et al. 2023, sec. 3.1), and high guidance breaks inversion.
Writes ``sweep.csv`` (one row per point: steps, w, PSNR, final drift), ``sweep.png`` (two heatmaps)
and ``input.png``.
"""
from __future__ import annotations

import csv
import time

import numpy as np

from . import args as a
from .common import IMAGE_RULES, MIN_SIDE_TEXT, add_model_arguments, check_prompt, check_steps, fit_to_model, \
    load, note, open_rgb, progress_bars, save_png
from .outputs import StagedOutputs

FIELDS = ("steps", "w", "psnr_db", "final_drift", "max_drift")


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "sweep", parents=parents, help="reconstruction PSNR and drift over step counts x guidance weights",
        description="Invert IMAGE with plain DDIM inversion at every step count and guidance weight (inverting "
                    "and sampling at the same w) and tabulate the reconstruction PSNR and the latent drift. "
                    + IMAGE_RULES.format(min_side=MIN_SIDE_TEXT))
    p.add_argument("image", metavar="IMAGE", help="the image file")
    p.add_argument("--prompt", required=True, help="the source prompt: what the image shows")
    p.add_argument("--steps", type=a.listed(a.step_count, "step counts"), default=[2, 5, 10, 20, 50],
                   help="comma-separated step counts (default 2,5,10,20,50)")
    p.add_argument("--guidance", type=a.listed(a.guidance, "guidance weights"), default=[1.0, 3.0, 7.5],
                   help="comma-separated guidance weights (default 1,3,7.5)")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    add_model_arguments(p)
    p.set_defaults(run=run)


def rows(result, steps: list[int], weights: list[float]) -> list[dict]:
    """One CSV row per (steps, w): mean PSNR (dB), the drift at x_0 and the largest drift along the way."""
    out = []
    for s in steps:
        for w in weights:
            point = result.get(s, w, w)
            drift = point.drift.mean(1)  # (N + 1,) noisiest level first, averaged over images
            out.append({"steps": s, "w": w, "psnr_db": round(point.psnr.mean().item(), 3),
                        "final_drift": round(drift[-1].item(), 5), "max_drift": round(drift.max().item(), 5)})
    return out


def grid(table: list[dict], key: str, steps: list[int], weights: list[float]) -> np.ndarray:
    values = {(r["steps"], r["w"]): r[key] for r in table}
    return np.array([[values[(s, w)] for w in weights] for s in steps])  # (len(steps), len(weights))


def run(args) -> list[dict]:
    from .. import viz
    from ..sweeps import sweep
    from ..world_fit import say_if_outside

    img = open_rgb(args.image)
    steps, weights = sorted(args.steps), sorted(args.guidance)
    with StagedOutputs(args.out) as out:
        model = load(args)
        for s in steps:
            check_steps(model, s)
        check_prompt(model, args.prompt)
        image = fit_to_model(img, model.image_size, args.image).to(model.device)  # (1, 3, S, S)
        say_if_outside(model, image, [args.image], note)  # a photo on the embedded model: one note
        start = time.perf_counter()
        table = rows(sweep(model, image, args.prompt, steps, weights, progress=progress_bars(args)), steps, weights)
        with open(out.path("sweep.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(table)
        panels = [(grid(table, "psnr_db", steps, weights), "reconstruction PSNR (dB)", "viridis"),
                  (grid(table, "final_drift", steps, weights), "final latent drift (RMS at x_0)", "magma")]
        viz.save_heatmaps(steps, weights, panels, out.path("sweep.png"), title=f"DDIM inversion of {args.prompt!r}")
        save_png(image, out.path("input.png"))
    print_table(table, time.perf_counter() - start)
    return table


def print_table(table: list[dict], seconds: float) -> None:
    print(f"{'steps':>5} {'w':>5} {'PSNR dB':>8} {'drift':>8}")
    for r in table:
        print(f"{r['steps']:>5} {r['w']:>5g} {r['psnr_db']:>8.2f} {r['final_drift']:>8.4f}")
    print(f"({seconds:.1f} s)")
