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

the edit's direction, amplified w_t times. On Stable Diffusion w_t = 7.5 works; on the small embedded
model, where one changed word moves eps a long way, it over-saturates the edited object (latents at
3x the source's scale) and the VAE decoder's group norms carry that into the whole image. A lower
w_t (1.5 to 2.5) edits cleanly: ``benchmarks/null_text_report.py`` chooses it per kind of edit on
training scenes and measures it on held-out ones. The source branch keeps w, so it still retraces
the reconstruction.

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

import torch
from tqdm.auto import tqdm

from .ddim import ddim_step
from .guidance import check_guidance, guided_eps
from .p2p import AttentionControl, attention_control
from .result import InversionResult


def source_prompt(result: InversionResult, image: int) -> str:
    """The source prompt of image ``image`` of the result, or a ValueError for an index out of range."""
    B = result.x_T.shape[0]
    if isinstance(image, bool) or not isinstance(image, int) or not 0 <= image < B:
        raise ValueError(f"image must be the index of one of the result's {B} images (0 to {B - 1}), got {image!r}")
    return result.prompts[image]


TARGET_NULLS = ("tuned", "empty")  # the target branch's null embedding: the step's tuned one, or ""'s


@torch.no_grad()
def edit_latents(model, result: InversionResult, target_prompt: str, *, controller=None, w: float | None = None,
                 target_w: float | None = None, target_null: str = "tuned", image: int = 0,
                 progress: bool = False) -> list[torch.Tensor]:
    """The joint trajectory of the source and target branches: N + 1 of (2, C, h, w), noisiest first."""
    w = check_guidance(result.w if w is None else w)
    target_w = w if target_w is None else check_guidance(target_w)
    if target_null not in TARGET_NULLS:
        raise ValueError(f"target_null must be one of {TARGET_NULLS}, got {target_null!r}")
    source = source_prompt(result, image)
    if controller is not None and hasattr(controller, "check_edit"):
        controller.check_edit(source, target_prompt, result.num_steps)
    emb_cond = torch.cat([result.emb_cond[image:image + 1], model.encode_prompt(target_prompt)])  # (2, L, D)
    x_T = result.x_T[image:image + 1].expand(2, -1, -1, -1)  # (2, C, h, w): both branches start at x_T
    context = nullcontext() if controller is None else attention_control(model.unet, controller, model.latent_shape)
    with context:
        weights = torch.tensor([w, target_w], device=x_T.device, dtype=x_T.dtype).view(2, 1, 1, 1)  # (2, 1, 1, 1)
        empty = model.null_embedding(1) if target_null == "empty" else None  # (1, L, D) or None
        return edit_loop(model, result, x_T, emb_cond, weights, image, controller or AttentionControl(), progress,
                         empty)


def edit_loop(model, result, x_t, emb_cond, w, image, controller, progress, target_null=None) -> list[torch.Tensor]:
    """DDIM sampling of [source, target] with the result's per-step null embeddings and the controller's hooks;
    w is (2, 1, 1, 1): each branch's guidance weight; target_null (1, L, D), if given, the target's null."""
    schedule, trajectory = model.schedule, [x_t]
    for i, (t, t_prev) in enumerate(tqdm(schedule.pairs(result.num_steps), desc="editing", disable=not progress)):
        tuned = result.emb_null[i][image:image + 1]  # (1, L, D)
        emb_null = torch.cat([tuned, tuned if target_null is None else target_null.to(tuned)])  # (2, L, D)
        # 1. the UNet on [null source, null target, cond source, cond target], attention controlled
        controller.begin_step(i)
        eps_null, eps_cond = model.predict_eps_pair(x_t, t, emb_null, emb_cond)  # 2 x (2, C, h, w)
        # 2. one guided DDIM step of both branches
        x_t = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev))
        # 3. direct inversion: put the source branch back on its pivot
        if result.corrections is not None:
            x_t = torch.cat([x_t[:1] + result.corrections[i][image:image + 1], x_t[1:]])  # (2, C, h, w)
        # 4. the controller's step hook (local blend)
        x_t = controller.end_step(x_t)
        trajectory.append(x_t)
    return trajectory


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
