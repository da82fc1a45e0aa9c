"""Prompt-to-Prompt edits of inverted scenes, measured: null-text inversion, then an edit per setting.

Mokady et al. 2023, sec. 4.1: invert the real image, then edit with Prompt-to-Prompt (Hertz et al. 2023)
from the tuned null embeddings. A ``P2PSetting`` names the attention control (cross/self injection, local
blend) and our knobs (``nti_edu.editing``'s target w and target null, ``nti_edu.paste_back``); the driver
edits every scene with each setting and judges it: success (the attribute evaluator accepts the edited
image as the target prompt), PSNR outside the edited region, both at once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..editing import edit
from ..null_text import null_text_inversion
from ..p2p import LocalBlend, prompt_edit
from ..paste_back import keep_mask, paste_back
from ..reconstruction import reconstruct
from .scenes import edit_cases, kind_seeds, mask_quality, psnr_outside, timed

W = 7.5  # the paper's guidance weight, inversion and editing
NULL_TEXT = {"num_inner_steps": 10, "early_stop_eps": 1e-5}  # the official defaults
PASTE_SIDES = {"object": "of the object", "outside": "outside the object",  # the input's pixels put back
               "added": "outside what is added"}  # where they are kept (nti_edu.paste_back)
GOOD_PSNR = 25.0  # dB outside the region: an edit that keeps the rest of the image


@dataclass(frozen=True)
class P2PSetting:
    cross_replace_steps: float  # fraction of the steps with the source's cross-attention injected
    self_replace_steps: float  # fraction of the steps with the source's self-attention injected
    blend_threshold: float | None  # local blend on the changed words; None: no local blend
    target_w: float = W  # the target branch's guidance weight (nti_edu.editing); the paper: W
    subtract_object: bool = False  # local blend less the object's region (LocalBlend's subtract_words)
    target_null: str = "tuned"  # the target branch's null embedding: the paper's tuned one, or "" ("empty")
    paste_back: str = ""  # a key of PASTE_SIDES: where the input's pixels are put back; "": nowhere
    blend_scale: str = "max"  # LocalBlend's scale: "max" (the official code) or "range" (ours)

    def label(self) -> str:
        blend = "no local blend" if self.blend_threshold is None else f"local blend {self.blend_threshold}"
        blend += " less the object" if self.subtract_object else ""
        blend += " (min-max maps)" if self.blend_threshold is not None and self.blend_scale == "range" else ""
        return f"cross {self.cross_replace_steps}, self {self.self_replace_steps}, {blend}, target w {self.target_w}" \
            + self.extras()

    def extras(self) -> str:
        """What the setting adds to the paper's editing: the target's null "", paste-back."""
        return (", the target's null \"\"" if self.target_null == "empty" else "") + (
            f", paste-back {PASTE_SIDES[self.paste_back]}" if self.paste_back else "")

    def as_in_paper(self) -> "P2PSetting":
        """The same attention control as the paper runs it: target w = W, tuned nulls, no paste-back."""
        return replace(self, target_w=W, target_null="tuned", paste_back="")


# -- the settings null_text_report.md tries per kind of edit, on training scenes
SETTINGS = tuple(  # the Prompt-to-Prompt code's defaults (cross 0.8, self 0.4, threshold 0.3) and the paper's
    P2PSetting(0.8, 0.4, blend, target_w)  # w first, then neighbours
    for target_w in (W, 2.5, 1.5) for blend in (None, 0.3, 0.6)) + tuple(
    P2PSetting(0.4, 0.4, blend, target_w)  # less cross-attention injection: room for a new shape
    for target_w in (2.5, 1.5) for blend in (None, 0.3))
BLEND_ONLY = {"add sunglasses"}  # adding an object: a refinement with local blend on the added words
SUBTRACT_OBJECT = {"background swap"}  # also tried: the blend on "background" less the object's region
PASTE_BACK = {"background swap": "object", "colour swap": "outside", "add sunglasses": "added"}  # also tried


def paste_settings(side: str, blend: float | None = None) -> tuple[P2PSetting, ...]:
    """The paste-back settings tried: tuned or "" target nulls, the paper's target w and smaller ones."""
    return tuple(P2PSetting(0.8, 0.4, blend, target_w, target_null=null, paste_back=side)
                 for null in ("tuned", "empty") for target_w in (W, 4.0, 2.5, 1.5))


def kind_settings(kind: str) -> list[P2PSetting]:
    """The settings tried for an edit kind."""
    settings = [s for s in SETTINGS if s.blend_threshold is not None or kind not in BLEND_ONLY]
    if kind in SUBTRACT_OBJECT:
        settings += [replace(s, subtract_object=True) for s in settings if s.blend_threshold is not None]
    blend = 0.6 if kind in BLEND_ONLY else None  # sunglasses: the blend threshold chosen without paste-back
    return settings + list(paste_settings(PASTE_BACK[kind], blend) if kind in PASTE_BACK else ())


# -- one edit, its controller and its measures ----------------------------------------------------------------
def blend_words(e) -> tuple[tuple, tuple]:
    """Local blend's words (in the source, in the target): the noun of what the edit changes, as the official
    notebooks blend on "cat" for a cat's edits. Sunglasses are new: the source has none."""
    if e.kind == "add sunglasses":
        return (), ("sunglasses",)
    if e.kind == "background swap":
        return ("background",), ("background",)
    return (e.source.shape,), (e.target.shape,)  # colour or shape swap: the object


def controller(tokenizer, e, steps: int, setting: P2PSetting):
    """The library's controller for the edit ``e`` (``p2p.prompt_edit``: swap or refine), blended if asked."""
    blend = None
    if setting.blend_threshold is not None:
        subtract = ((e.source.shape,), (e.target.shape,)) if setting.subtract_object else None
        blend = LocalBlend(*blend_words(e), threshold=setting.blend_threshold, subtract_words=subtract,
                           scale=setting.blend_scale)
    return prompt_edit(tokenizer, e.source_prompt, e.target_prompt, steps, local_blend=blend,
                       cross_replace_steps=setting.cross_replace_steps,
                       self_replace_steps=setting.self_replace_steps)


def invert_cases(model, cases: dict, steps: int, null_text: dict = NULL_TEXT):
    """Null-text inversion of the cases' source images as one batch, and their reconstructions (B, 3, H, W)."""
    prompts = [e.source_prompt for e in cases["edits"]]
    result = null_text_inversion(model, cases["images"], prompts, num_steps=steps, w=W, progress=False, **null_text)
    return result, reconstruct(model, result)


def paste_mask(tokenizer, control, e, source: torch.Tensor, edited: torch.Tensor, side: str) -> torch.Tensor:
    """Where paste-back keeps the input (1, 1, H, W): the source's object ("object"), all but it ("outside"),
    or all but the target's added words, found on the edited image ("added")."""
    if side == "added":
        return keep_mask(control, tokenizer, edited, e.target_prompt, blend_words(e)[1], outside=True, branch=1)
    return keep_mask(control, tokenizer, source, e.source_prompt, e.source.object_words(), outside=side == "outside")


def edit_one(model, cases: dict, result, i: int, setting: P2PSetting):
    """Case i edited with ``setting``: (image (1, 3, H, W), paste-back mask (1, 1, H, W) or None)."""
    e = cases["edits"][i]
    control = controller(model.tokenizer, e, result.num_steps, setting)
    image = edit(model, result, e.target_prompt, controller=control, target_w=setting.target_w,
                 target_null=setting.target_null, image=i, progress=False)[1]  # (1, 3, H, W)
    if not setting.paste_back:
        return image, None
    source = cases["images"][i:i + 1]  # (1, 3, H, W)
    mask = paste_mask(model.tokenizer, control, e, source, image, setting.paste_back)
    return paste_back(source, image, mask), mask


def run_edits(model, evaluator, cases: dict, result, setting: P2PSetting) -> dict:
    """Every case edited with ``setting`` and judged: {"images", "success", "psnr_outside", "both"[, "mask"]}."""
    edited, masks = zip(*(edit_one(model, cases, result, i, setting) for i in range(len(cases["edits"]))))
    edited = torch.cat(edited)  # (B, 3, H, W)
    success = evaluator.matches(edited, [e.target_prompt for e in cases["edits"]])  # (B,) bool
    kept = psnr_outside(edited, cases["images"], cases["regions"])  # (B,)
    out = {"images": edited, "success": success, "psnr_outside": kept, "both": success & (kept >= GOOD_PSNR)}
    return out | ({"mask": mask_quality(torch.cat(masks), cases["regions"])} if masks[0] is not None else {})


def choose_setting(model, evaluator, kind: str, settings, n: int, steps: int) -> tuple[P2PSetting, list]:
    """Try ``settings`` on n training-seed scenes of ``kind``; keep the one with most edits that succeed with
    PSNR >= GOOD_PSNR outside (ties: higher mean PSNR outside). Returns (the choice, [(setting, measures)])."""
    cases = edit_cases(kind, kind_seeds(kind, n, heldout=False))
    result, _ = invert_cases(model, cases, steps)
    rows = [(s, run_edits(model, evaluator, cases, result, s)) for s in settings]
    best = max(rows, key=lambda r: (r[1]["both"].sum().item(), r[1]["psnr_outside"].mean().item()))
    return best[0], rows


def measure_edits(model, evaluator, kind: str, n: int, steps: int, setting: P2PSetting, others=()) -> dict:
    """``setting`` on n held-out scenes of ``kind``: its measures, the cases, reconstructions and sanity checks;
    "paper_w": the same control as the paper runs it; "others": each of ``others`` on the same inversions."""
    cases = edit_cases(kind, kind_seeds(kind, n, heldout=True))
    (result, recon), seconds = timed(invert_cases, model, cases, steps)
    out = run_edits(model, evaluator, cases, result, setting)
    paper = setting.as_in_paper()
    sources, targets = ([getattr(e, f"{side}_prompt") for e in cases["edits"]] for side in ("source", "target"))
    ideal = model.latent_to_image(model.image_to_latent(cases["targets"]))  # the world's target, through the VAE
    return {**out, "cases": cases, "recon": recon, "invert_seconds": seconds, "setting": setting,
            "paper_w": out if paper == setting else run_edits(model, evaluator, cases, result, paper),
            "others": {s: run_edits(model, evaluator, cases, result, s) for s in others},
            "recon_outside": psnr_outside(recon, cases["images"], cases["regions"]),
            "ideal_outside": psnr_outside(ideal, cases["images"], cases["regions"]),
            "rendered_target_ok": evaluator.fidelity(cases["targets"], targets),
            "source_recon_ok": evaluator.fidelity(recon, sources)}
