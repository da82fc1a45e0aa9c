"""``nti-edu demo``: the main job. On the embedded model, offline, in under two minutes on a CPU:

1. take a few held-out images of the world (never seen in training) and their prompts;
2. invert them three ways: DDIM at w = 1, DDIM at w = 7.5 and null-text inversion at w = 7.5
   (Mokady et al. 2023, Algorithm 1), and reconstruct each at the w it was made for; the DDIM inversion
   at w = 1 is also sampled at w = 7.5 (what editing with it would do, the case null-text repairs);
3. edit each null-text inversion with Prompt-to-Prompt (Hertz et al. 2023): a colour swap on a
   shape, sunglasses added to a face; the target branch guided at EDIT_TARGET_W (nti_edu.editing);
4. write ``demo.png`` (rows: images; columns: input, the four reconstructions with their PSNR, the
   edit) and ``metrics.json``, and print a table;
5. run the lecture's three edits (face -> sunglasses, dog -> cat, portrait -> abstract painting;
   ``nti_edu.lecture_examples``) on held-out scenes the model knows the words of, into ``lecture.png``.

The lecture's point, measured: DDIM inversion reconstructs well at w = 1 but not at w = 7.5, where
editing needs to work; null-text inversion, which starts from the w = 1 inversion, recovers the image
at w = 7.5 and can then be edited.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from . import args as a
from .common import add_model_arguments, check_prompt, load, note, progress_bars, quality
from .outputs import StagedOutputs
from .errors import CliError
from .lecture_demo import lecture_part

W_HIGH = 7.5  # Stable Diffusion's guidance weight, the one editing needs
EDIT_TARGET_W = 1.5  # the edits' target-branch guidance (nti_edu.editing; chosen in benchmarks/null_text_report.md)
SCAN = 500  # held-out seeds looked at to find a face to put sunglasses on


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "demo", parents=parents, help="the main job: invert, reconstruct and edit held-out images (offline)",
        description="Invert a few held-out images of the embedded model's world with DDIM (w = 1 and 7.5) and "
                    "null-text inversion (w = 7.5), edit them with Prompt-to-Prompt, and write a figure "
                    "(demo.png), the lecture's three edits (lecture.png), metrics.json and a table. "
                    "Runs offline in about four minutes on a 2-core CPU.")
    p.add_argument("--out", default="nti_edu_demo", help="output folder (default nti_edu_demo/)")
    p.add_argument("--n", type=a.positive_count, default=3, help="number of images (default 3)")
    p.add_argument("--steps", type=a.whole_number, default=50, help="DDIM steps (default 50, at most 100)")
    p.add_argument("--inner-steps", type=a.whole_number, default=10,
                   help="null-text: Adam iterations per step at most (default 10, the paper's)")
    p.add_argument("--seed", type=a.count, default=0,
                   help="which held-out images: the scan starts at held-out seed number SEED (default 0)")
    p.add_argument("--lecture", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the lecture's three edits into lecture.png (default: on)")
    add_model_arguments(p)
    p.set_defaults(run=run)


def pick_seeds(n: int, start: int) -> list[int]:
    """Held-out seeds: the first face without sunglasses (for the sunglasses edit), then shape scenes."""
    from ..world import heldout_seeds, make_example

    face, shapes = None, []
    for seed in heldout_seeds(SCAN, start=start):
        scene = make_example(seed).scene
        if scene.kind == "face" and not scene.sunglasses and face is None:
            face = seed
        elif scene.kind == "shape" and len(shapes) < n - 1:
            shapes.append(seed)
        if face is not None and len(shapes) == n - 1:
            break
    return ([face] if face is not None else []) + shapes


def plan_edit(tokenizer, scene, num_steps: int, rng):
    """(target prompt, a short label, the Prompt-to-Prompt controller) for one scene of the world."""
    from ..p2p import LocalBlend, prompt_edit
    from ..world import make_edit

    if scene.kind == "face":
        e, label = make_edit("add sunglasses", scene), "+ sunglasses"
        blend = LocalBlend(["face"], ["sunglasses"])
    else:
        e = make_edit("colour swap", scene, rng)
        label, blend = f"{scene.colour} -> {e.target.colour}", LocalBlend([scene.shape], [scene.shape])  # the shape
    control = prompt_edit(tokenizer, e.source_prompt, e.target_prompt, num_steps, local_blend=blend,
                          cross_replace_steps=0.8, self_replace_steps=0.4)  # swap or refine: the library's choice
    return e.target_prompt, label, control


def world_images(model, n: int, start: int):
    """(images (n, 3, S, S) in [0, 1] at the model's side S, prompts, scenes) of held-out examples."""
    from ..images import resize_to
    from ..world import make_batch

    images, prompts, scenes, _ = make_batch(pick_seeds(n, start))  # (n, 3, 64, 64)
    side = model.image_size
    if images.shape[-1] != side:
        note(f"the world's images are {images.shape[-1]}x{images.shape[-1]}; resized to this model's {side}x{side}")
    return resize_to(images, side).to(model.device), prompts, scenes  # (n, 3, S, S)


def reconstructions(model, images, prompts, config, args):
    """The three inversions, each reconstructed at its own w, and the w = 1 one also at 7.5:
    ({name: (n, 3, S, S)}, {name: seconds}, the null-text result, which the edits start from)."""
    from ..inversion import invert
    from ..null_text import null_text_inversion
    from ..reconstruction import reconstruct

    progress, recons, seconds = progress_bars(args), {}, {}
    runs = {"ddim_w1": lambda: invert(model, images, prompts, num_steps=args.steps, w=1.0, progress=progress),
            "ddim_w7.5": lambda: invert(model, images, prompts, num_steps=args.steps, w=W_HIGH, progress=progress),
            "null_text_w7.5": lambda: null_text_inversion(model, images, prompts, config, progress=progress)}
    for name, make in runs.items():
        start = time.perf_counter()
        result = make()
        recons[name] = reconstruct(model, result, progress=progress)  # (n, 3, S, S)
        seconds[name] = round(time.perf_counter() - start, 2)
        if name == "ddim_w1":  # the pivots null-text starts from, sampled at the w editing needs
            recons["ddim_w1_at7.5"] = reconstruct(model, result, w=W_HIGH, progress=progress)
    return recons, seconds, result


def judge(edited, targets: list[str]):
    """The evaluator's verdict (does each edited image show its target prompt?), if it can judge them."""
    from ..world import IMAGE_SIDE

    try:
        from ..evaluator import ASSET_DIR, load_evaluator
    except ImportError:
        return [None] * len(targets)
    if edited.shape[-1] != IMAGE_SIDE or not (ASSET_DIR / "model.safetensors").is_file():
        return [None] * len(targets)
    return load_evaluator().matches(edited.float().cpu(), targets).tolist()


def edits(model, result, scenes, args):
    """Edit every image of the null-text result: (edited (n, 3, S, S), targets, labels, seconds)."""
    import torch

    from ..editing import edit

    rng, edited, targets, labels = np.random.default_rng(args.seed), [], [], []
    start = time.perf_counter()
    for i, scene in enumerate(scenes):
        target, label, control = plan_edit(model.tokenizer, scene, result.num_steps, rng)
        edited.append(edit(model, result, target, controller=control, target_w=EDIT_TARGET_W, image=i,
                           progress=progress_bars(args))[1])
        targets.append(target)
        labels.append(label)
    return torch.cat(edited), targets, labels, round(time.perf_counter() - start, 2)


COLUMNS = (("ddim_w1", "DDIM w=1"), ("ddim_w1_at7.5", "DDIM w=1 -> 7.5"), ("ddim_w7.5", "DDIM w=7.5"),
           ("null_text_w7.5", "null-text w=7.5"))  # "1 -> 7.5": inverted at w = 1, sampled at w = 7.5


def table(images, prompts, recons, edited, targets, labels, verdicts) -> list[dict]:
    """One record per image: the prompts, each reconstruction's PSNR/SSIM, the edit and its verdict."""
    rows = []
    for i, prompt in enumerate(prompts):
        row = {"prompt": prompt, "edit": labels[i], "target_prompt": targets[i], "edit_shows_target": verdicts[i]}
        for key, _ in COLUMNS:
            row[key] = quality(recons[key][i:i + 1], images[i:i + 1])
        rows.append(row)
    return rows


def figure_rows(images, recons, edited, rows) -> list[list[tuple]]:
    cells = []
    for i, row in enumerate(rows):
        line = [(images[i], "input")]
        line += [(recons[key][i], f"{title}\n{row[key]['psnr_db']:.1f} dB") for key, title in COLUMNS]
        verdict = {True: " (ok)", False: " (missed)", None: ""}[row["edit_shows_target"]]
        line.append((edited[i], f"edit: {row['edit']}{verdict}"))
        cells.append(line)
    return cells


def run(args) -> dict:
    from .. import viz

    from ..null_text import NullTextConfig

    wall = time.perf_counter()
    try:  # the settings, checked once, before the model is loaded
        config = NullTextConfig(num_steps=args.steps, w=W_HIGH, num_inner_steps=args.inner_steps)
    except ValueError as err:
        raise CliError(f"--steps {args.steps}, --inner-steps {args.inner_steps}: {err}") from None
    with StagedOutputs(args.out) as out:
        model = load(args)
        model.schedule.check_steps(args.steps)  # the model's own limit
        images, prompts, scenes = world_images(model, args.n, args.seed)  # (n, 3, S, S)
        for prompt in prompts:
            check_prompt(model, prompt)
        recons, seconds, result = reconstructions(model, images, prompts, config, args)
        edited, targets, labels, seconds["edits"] = edits(model, result, scenes, args)
        rows = table(images, prompts, recons, edited, targets, labels, judge(edited, targets))
        viz.save_image_grid(figure_rows(images, recons, edited, rows), out.path("demo.png"),
                            title=f"{model.name}: {args.steps} DDIM steps, null-text {args.inner_steps} inner iterations")
        lecture = lecture_part(model, args.steps, args.inner_steps, out.path("lecture.png")) if args.lecture \
            else {"lecture_examples": [], "lecture_examples_skipped": [], "seconds": 0.0}
        seconds |= {"lecture": lecture.pop("seconds"), "total": round(time.perf_counter() - wall, 2)}
        metrics = {"model": model.name, "device": str(model.device), "num_steps": args.steps,
                   "num_inner_steps": args.inner_steps, "edit_target_w": EDIT_TARGET_W, "images": rows,
                   "mean_psnr_db": mean_psnr(rows), "seconds": seconds} | lecture
        out.write_json("metrics.json", metrics)
    print_table(metrics, args.out)
    return metrics


def mean_psnr(rows) -> dict:
    return {key: round(float(np.mean([r[key]["psnr_db"] for r in rows])), 3) for key, _ in COLUMNS}


def print_table(metrics: dict, out) -> None:
    """The reconstruction PSNR of every image and method, the edits, and the time taken."""
    head = "".join(f"{title:>17}" for _, title in COLUMNS)
    print(f"{'image':<64}{head}   edit")
    for r in metrics["images"]:
        psnrs = "".join(f"{r[key]['psnr_db']:>14.2f} dB" for key, _ in COLUMNS)
        verdict = {True: "ok", False: "missed", None: "not judged"}[r["edit_shows_target"]]
        print(f"{r['prompt']:<64}{psnrs}   {r['edit']} ({verdict})")
    means = "".join(f"{v:>14.2f} dB" for v in metrics["mean_psnr_db"].values())
    print(f"{'mean':<64}{means}")
    for r in metrics["lecture_examples"]:
        verdict = {True: "ok", False: "missed", None: "not judged"}[r["edit_shows_target"]]
        print(f"the lecture's {r['lecture']}: {r['prompt']} -> {r['target_prompt']} ({verdict})")
    print(f"{metrics['seconds']['total']:.1f} s in all; figure and metrics in {out}/")
