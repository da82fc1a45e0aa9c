"""Issue 37: the lecture's dog -> cat and portrait -> abstract painting on a grown embedded model.

    python benchmarks/grown_edits.py      # the two edits on the shipped model (embedded@0.2.0), ~13 min
    python benchmarks/grown_edits.py --model runs/NEW_model --evaluator runs/NEW_evaluator   # on another
    python benchmarks/grown_edits.py --layout          # the layout threshold's pairs of drawings only
    python benchmarks/grown_edits.py --fidelity 40     # does the model draw what grown prompts say? (w 7.5, 50 steps)
    python benchmarks/grown_edits.py --round-trip 100  # can its VAE draw them? (and today's world, in dB)

As benchmarks/null_text_report.py measures the four edits: null-text inversion (w 7.5, 50 steps, the
official 10 inner steps), then Prompt-to-Prompt (word swap for the animal, refinement for the style);
the settings are chosen on training-seed scenes, then measured on held-out ones. Success: the (grown)
evaluator reads every attribute of the target prompt; the dog -> cat edit also keeps everything outside
the animal (PSNR outside the union of both animals' masks, grown by a pixel), the painting its drawing's
layout (``nti_edu.layout``, SSIM of coarse edge maps >= LAYOUT_THRESHOLD).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nti_edu.editing import edit
from nti_edu.evaluator import ASSET_DIR, load_evaluator
from nti_edu.layout import LAYOUT_THRESHOLD, layout_similarity
from nti_edu.metrics import psnr
from nti_edu.models import load_model
from nti_edu.null_text import null_text_inversion
from nti_edu.p2p import LocalBlend, Refine, WordSwap
from nti_edu.paste_back import keep_mask, paste_back
from nti_edu.sampling import generate
from nti_edu.world import (GROWN_EDIT_KINDS, REFINEMENT, heldout_seeds, make_batch, random_edit, render_edit,
                           train_seeds)

W = 7.5
NULL_TEXT = {"num_inner_steps": 10, "early_stop_eps": 1e-5}
SEED_OFFSET = 200_000  # one block of 1000 seeds per grown edit kind, apart from null_text_report's (100,000 on)
KEPT_DB = 25.0  # the dog -> cat edit keeps everything outside the animal at >= 25 dB


@dataclass(frozen=True)
class Setting:
    cross: float  # cross_replace_steps
    self_: float  # self_replace_steps
    blend: float | None  # local blend threshold on the animal's word; None: none
    target_w: float
    paste: bool = False  # paste the input back outside both animals (nti_edu.paste_back)

    def label(self) -> str:
        blend = "no blend" if self.blend is None else f"blend {self.blend}"
        return f"cross {self.cross}, self {self.self_}, {blend}, target w {self.target_w}" + \
            (", paste-back outside the animals" if self.paste else "")


SETTINGS = {
    "animal swap": [Setting(c, 0.4, b, tw) for c in (0.8, 0.4) for b in (None, 0.3) for tw in (W, 2.5)]
    + [Setting(c, 0.4, 0.3, tw, paste=True) for c in (0.8, 0.4) for tw in (W, 2.5)],
    # target w 1.0 first: on the candidate of 2026-12-07, 7.5 and 2.5 drift the colours and lose the layout
    "abstract painting": [Setting(c, s, None, 1.0) for c in (0.8, 0.6, 0.4) for s in (0.4, 0.2)]
    + [Setting(c, s, None, 1.0) for c in (0.8, 0.6, 0.4) for s in (0.8, 0.6, 1.0)]  # more self-attention: layout
    # less cross-attention, better layout; cross 0.0 (self-attention alone, no longer a refinement: 15 of 16
    # training scenes, 22 of 25 held-out at commit 823d419) is left out so that the style stays a refinement
    + [Setting(c, s, None, 1.0) for c in (0.2, 0.1) for s in (1.0, 0.8)]
    + [Setting(c, s, None, tw) for c in (0.8, 0.4) for s in (0.4, 0.2) for tw in (W, 2.5)],
}


def to_tensor(image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()  # (3, H, W)


def cases(kind: str, n: int, heldout: bool) -> dict:
    """n edits of ``kind`` on their own seeds: edits, source and target drawings (n, 3, 64, 64), regions (n, 64, 64)."""
    start = SEED_OFFSET + 1000 * list(GROWN_EDIT_KINDS).index(kind)
    seeds = heldout_seeds(n, start) if heldout else train_seeds(n, start)
    edits = [random_edit(kind, np.random.default_rng(s)) for s in seeds]
    drawn = [render_edit(e, s) for e, s in zip(edits, seeds)]
    return {"edits": edits, "images": torch.stack([to_tensor(d[0]) for d in drawn]),
            "targets": torch.stack([to_tensor(d[1]) for d in drawn]),
            "regions": torch.stack([torch.from_numpy(d[2]) for d in drawn])}


def psnr_outside(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of (B, 3, H, W) images over the pixels outside ``region`` (B, H, W): (B,)."""
    keep = (~region)[:, None].float()  # (B, 1, H, W)
    mse = ((a - b) ** 2 * keep).flatten(1).sum(1) / (3 * keep.flatten(1).sum(1)).clamp_min(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-12))


def controller(tokenizer, e, steps: int, s: Setting):
    blend = None if s.blend is None else LocalBlend((e.source.animal,), (e.target.animal,), threshold=s.blend)
    kind = Refine if e.p2p == REFINEMENT else WordSwap
    return kind(tokenizer, e.source_prompt, e.target_prompt, steps, cross_replace_steps=s.cross,
                self_replace_steps=s.self_, local_blend=blend)


def run_edits(model, evaluator, c: dict, result, steps: int, s: Setting) -> dict:
    """Edit every case; success by the evaluator; PSNR outside the region and the layout similarity."""
    edited = []
    for i, e in enumerate(c["edits"]):
        control = controller(model.tokenizer, e, steps, s)
        image = edit(model, result, e.target_prompt, controller=control, target_w=s.target_w, image=i,
                     progress=False)[1]  # (1, 3, H, W)
        if s.paste:
            source = c["images"][i:i + 1]  # (1, 3, H, W)
            keep = keep_mask(control, model.tokenizer, source, e.source_prompt, (e.source.animal,), outside=True) * \
                keep_mask(control, model.tokenizer, image, e.target_prompt, (e.target.animal,), outside=True, branch=1)
            image = paste_back(source, image, keep)
        edited.append(image)
    edited = torch.cat(edited)  # (B, 3, H, W)
    judged = evaluator.matches(edited, [e.target_prompt for e in c["edits"]])  # (B,) bool
    outside = psnr_outside(edited, c["images"], c["regions"])  # (B,); the painting's region is the whole image
    layout = layout_similarity(edited, c["images"])  # (B,)
    kept = layout >= LAYOUT_THRESHOLD if c["edits"][0].region == "image" else outside >= KEPT_DB
    return {"images": edited, "judged": judged, "outside_db": outside, "layout": layout, "success": judged & kept}


def invert(model, c: dict, steps: int):
    prompts = [e.source_prompt for e in c["edits"]]
    return null_text_inversion(model, c["images"], prompts, num_steps=steps, w=W, progress=False, **NULL_TEXT)


def summary(out: dict) -> dict:
    return {"success": int(out["success"].sum()), "judged": int(out["judged"].sum()), "n": len(out["success"]),
            "outside_db_mean": round(float(out["outside_db"].clamp_max(60).mean()), 2),
            "layout_mean": round(float(out["layout"].mean()), 3)}


def measure_kind(model, evaluator, kind: str, n_tune: int, n: int, steps: int, max_settings: int = 0) -> dict:
    """Choose the setting on n_tune training scenes (most successes, ties: mean PSNR outside or layout), then
    measure it on n held-out scenes."""
    tune = cases(kind, n_tune, heldout=False)
    result = invert(model, tune, steps)
    settings = SETTINGS[kind][:max_settings] if max_settings else SETTINGS[kind]
    rows = [(s, run_edits(model, evaluator, tune, result, steps, s)) for s in settings]
    best = max(rows, key=lambda r: (r[1]["success"].sum().item(), r[1]["outside_db"].mean().item(),
                                    r[1]["layout"].mean().item()))[0]
    held = cases(kind, n, heldout=True)
    out = run_edits(model, evaluator, held, invert(model, held, steps), steps, best)
    return {"tuning": [{"setting": s.label()} | summary(o) for s, o in rows], "chosen": best.label(),
            "heldout": summary(out), "rendered_targets_judged": evaluator.fidelity(
                held["targets"], [e.target_prompt for e in held["edits"]]), "images": out["images"], "cases": held}


def layout_pairs(n: int = 200) -> dict:
    """The layout threshold's evidence: plain portraits against their own paintings and other scenes'."""
    c = cases("abstract painting", n, heldout=False)
    q = lambda x: [round(float(v), 3) for v in np.percentile(x.numpy(), [0, 5, 50, 95, 100])]  # noqa: E731
    return {"own painting": q(layout_similarity(c["images"], c["targets"])),
            "another scene's painting": q(layout_similarity(c["images"], c["targets"].roll(1, 0))),
            "another plain scene": q(layout_similarity(c["images"], c["images"].roll(1, 0))),
            "percentiles": [0, 5, 50, 95, 100], "threshold": LAYOUT_THRESHOLD}


def grown_heldout(n: int):
    """(images (n, 3, 64, 64), prompts): n held-out grown scenes (animals and painted portraits), the same for
    ``fidelity`` and ``round_trip``."""
    return make_batch(heldout_seeds(n, SEED_OFFSET + 10_000), new_kinds=1.0)[:2]


def fidelity(model, evaluator, n: int, steps: int) -> dict:
    """Generate from n held-out grown prompts (animals and painted portraits, w 7.5); the share the grown evaluator
    reads right, in all and per attribute, and the same for the drawings themselves (the evaluator's ceiling)."""
    images, prompts = grown_heldout(n)  # (n, 3, 64, 64)
    generated = generate(model, prompts, num_steps=steps, w=W, seed=0)  # (n, 3, 64, 64)
    out = {}
    for name, x in (("generated", generated), ("drawn", images)):
        judged = evaluator.judge(x, prompts)
        names = sorted({k for j in judged for k in j})
        out[name] = {"all": float(np.mean([all(j.values()) for j in judged]))} | {
            k: round(float(np.mean([j[k] for j in judged if k in j])), 3) for k in names}
    return out


def round_trip(model, evaluator, n: int) -> dict:
    """The VAE alone: the round trip's PSNR on n held-out scenes of today's world (the embedded-model report's) and
    of the grown world, and how often the grown evaluator still reads the animal and the painting style in it."""
    today = make_batch(heldout_seeds(n), new_kinds=0.0)[0]  # (n, 3, 64, 64)
    grown, prompts = grown_heldout(n)  # (n, 3, 64, 64)
    with torch.no_grad():
        today_back, grown_back = (model.latent_to_image(model.image_to_latent(x)) for x in (today, grown))
    judged = evaluator.judge(grown_back, prompts)
    read = {k: [j[k] for j in judged if k in j] for k in ("animal", "style")}
    return {"today_db": round(psnr(today_back, today).mean().item(), 2),
            "grown_db": round(psnr(grown_back, grown).mean().item(), 2)} | {
        f"{k}_read": f"{sum(v)} of {len(v)}" for k, v in read.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="embedded",
                   help="a grown model folder (python -m nti_edu.train --new-kinds ...); default: the shipped model")
    p.add_argument("--evaluator", default=str(ASSET_DIR), help="a grown evaluator folder; default: the shipped one")
    p.add_argument("--n-tune", type=int, default=8, help="training scenes per kind for the setting choice")
    p.add_argument("--n", type=int, default=25, help="held-out scenes per kind")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--kinds", nargs="*", default=list(GROWN_EDIT_KINDS))
    p.add_argument("--max-settings", type=int, default=0, help="try only the first K settings (0: all)")
    p.add_argument("--layout", action="store_true", help="only the layout threshold's pairs of drawings")
    p.add_argument("--fidelity", type=int, default=0, help="only this many held-out grown prompts' generations")
    p.add_argument("--round-trip", type=int, default=0, help="only the VAE's round trip of this many held-out "
                   "scenes of each world")
    p.add_argument("--out", type=Path, default=Path("runs/grown_edits.json"))
    args = p.parse_args(argv)
    if args.layout:
        print(json.dumps(layout_pairs(), indent=2))
        return
    torch.manual_seed(0)
    model, evaluator = load_model(args.model), load_evaluator(args.evaluator)
    if args.fidelity:
        print(json.dumps(fidelity(model, evaluator, args.fidelity, args.steps), indent=2))
        return
    if args.round_trip:
        print(json.dumps(round_trip(model, evaluator, args.round_trip), indent=2))
        return
    results, start = {}, time.time()
    for kind in args.kinds:
        results[kind] = measure_kind(model, evaluator, kind, args.n_tune, args.n, args.steps, args.max_settings)
        torch.save(results[kind].pop("images"), args.out.with_suffix(f".{kind.replace(' ', '_')}.pt"))
        results[kind].pop("cases")
        print(json.dumps({kind: results[kind]}, indent=2), flush=True)
    results["minutes"] = round((time.time() - start) / 60, 1)
    results["command"] = " ".join(["python benchmarks/grown_edits.py", *(argv or [])])
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
