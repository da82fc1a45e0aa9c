"""Editing an inverted image: sample again from its x_T with the source and a target prompt side by side.

Mokady et al. 2023 (sec. 3.2 and 4) edit with the tuned null embeddings: at sampling step i both
branches use the null embedding tuned for step i, so the source branch retraces the reconstruction
while the target branch follows the new prompt. With no controller the edit is a plain prompt change;
a Prompt-to-Prompt controller (``nti_edu.p2p``; Hertz et al., ICLR 2023) injects the source's
attention into the target branch so that the layout is kept. For direct inversion (Ju et al. 2024)
the per-step corrections are added to the source branch only, after the step and before a local blend,
as in PnP Inversion's code.

The target branch's guidance weight ``target_w`` (default: the inversion's w, as in the paper) is a
knob of ours. Tuning makes the null prediction nearly the source's conditional one, eps_null ~ eps_src
(that is what lets the guided source step land on its pivot), so the target branch takes

    eps_null + w_t (eps_tgt - eps_null)  ~  eps_src + w_t (eps_tgt - eps_src):

the edit's direction, amplified w_t times, so a lower w_t tempers an edit that overshoots (measured in
benchmarks/README.md, "Editing the embedded model"). The source branch keeps w, so it still retraces the
reconstruction.

``target_null="empty"``, another knob of ours, gives the target branch the "" prompt's embedding instead of
the tuned one: plain classifier-free guidance towards the target prompt (eq. 2 of the paper with the
untuned phi), as Prompt-to-Prompt runs on generated images. It follows the target prompt as well as the
model samples it (no extrapolation along eps_tgt - eps_src, which for a change of the whole background
overshoots or stops short of the new colour, by a w_t that differs from colour to colour), but it no
longer retraces the source where the prompts agree: the inversion's drift at w returns there. So it goes
with ``nti_edu.paste_back``, which puts the input's pixels back where the edit must keep them.
"""
from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import torch

from .guidance import check_guidance
from .p2p import AttentionControl, attention_control
from .result import InversionResult
from .trajectory import guided_trajectory


def source_prompt(result: InversionResult, image: int) -> str:
    """The source prompt of image ``image`` of the result, or a ValueError for an index out of range."""
    B = result.x_T.shape[0]
    if isinstance(image, bool) or not isinstance(image, int) or not 0 <= image < B:
        raise ValueError(f"image must be the index of one of the result's {B} images (0 to {B - 1}), got {image!r}")
    return result.prompts[image]


TARGET_NULLS = ("tuned", "empty")  # the target branch's null embedding: the step's tuned one, or ""'s


def edit_latents(model, result: InversionResult, target_prompt: str, *, controller=None, w: float | None = None,
                 target_w: float | None = None, target_null: str = "tuned", image: int = 0,
                 progress: bool = False) -> list[torch.Tensor]:
    """The joint trajectory of the source and target branches: N + 1 of (2, C, h, w), noisiest first."""
    w = result.w if w is None else check_guidance(w)  # the result's w was checked when it was made
    target_w = w if target_w is None else check_guidance(target_w)
    if target_null not in TARGET_NULLS:
        raise ValueError(f"target_null must be one of {TARGET_NULLS}, got {target_null!r}")
    source = source_prompt(result, image)
    if controller is not None and hasattr(controller, "check_edit"):
        controller.check_edit(source, target_prompt, result.num_steps)
    emb_cond = branch_conds(model, result, image, target_prompt)  # (2, L, D), or one per step
    x_T = result.x_T[image:image + 1].expand(2, -1, -1, -1)  # (2, C, h, w): both branches start at x_T
    weights = torch.tensor([w, target_w], device=x_T.device, dtype=x_T.dtype).view(2, 1, 1, 1)  # (2, 1, 1, 1)
    nulls = branch_nulls(model, result, image, target_null)
    context = nullcontext() if controller is None else attention_control(model.unet, controller, model.latent_shape)
    controller = controller or AttentionControl()  # the do-nothing controller: a plain prompt change
    with context:
        return list(guided_trajectory(model, x_T, emb_cond, num_steps=result.num_steps, w=weights, nulls=nulls,
                                      before_step=lambda step: controller.begin_step(step.i),
                                      after_step=partial(after_edit_step, result, image, controller),
                                      progress=progress, desc="editing"))


def branch_conds(model, result: InversionResult, image: int, target_prompt: str):
    """The prompt embeddings of [source, target], (2, L, D). For a result with a tuned C_t per step (textual
    inversion, ``nti_edu.ablations``), one per step: [C_t, C_t + (E(target) - E(source))], the tuned offset
    carried to the target prompt (our rule: the paper, sec. 4, says only that such edits work less well)."""
    source = result.emb_cond[image:image + 1]  # (1, L, D), E(source)
    target = model.encode_prompt(target_prompt).to(source)  # (1, L, D), E(target)
    if result.emb_conds is None:
        return torch.cat([source, target])  # (2, L, D)
    return [torch.cat([c[image:image + 1], c[image:image + 1] + target - source]) for c in result.emb_conds]


def branch_nulls(model, result: InversionResult, image: int, target_null: str) -> list[torch.Tensor]:
    """Each step's null embeddings of [source, target]: the step's tuned one for both, or "" for the target."""
    empty = model.null_embedding(1) if target_null == "empty" else None  # (1, L, D) or None
    nulls = []
    for tuned in result.emb_null:
        tuned = tuned[image:image + 1]  # (1, L, D)
        nulls.append(torch.cat([tuned, tuned if empty is None else empty.to(tuned)]))  # (2, L, D)
    return nulls


def after_edit_step(result: InversionResult, image: int, controller, step, x_t: torch.Tensor) -> torch.Tensor:
    """After each step of [source, target] (2, C, h, w): direct inversion's correction of the source branch
    (PnP Inversion's order), then the controller's step hook (Prompt-to-Prompt's local blend)."""
    if result.corrections is not None:
        x_t = torch.cat([x_t[:1] + result.corrections[step.i][image:image + 1], x_t[1:]])  # (2, C, h, w)
    return controller.end_step(x_t)


def edit(model, result: InversionResult, target_prompt: str, *, controller=None, w: float | None = None,
         target_w: float | None = None, target_null: str = "tuned", image: int = 0,
         progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Edit image ``image`` of an inversion result towards ``target_prompt``.

    Returns (source_image, edited_image), each (1, 3, H, W) in [0, 1]. w defaults to the result's; target_w,
    the target branch's guidance weight, to w; target_null, "tuned" (the paper) or "empty" (see the module's note).
    """
    x_0 = edit_latents(model, result, target_prompt, controller=controller, w=w, target_w=target_w,
                       target_null=target_null, image=image, progress=progress)[-1]
    images = model.latent_to_image(x_0)  # (2, 3, H, W)
    return images[:1], images[1:]
