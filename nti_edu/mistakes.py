"""The assignments' typical mistakes, computed: each function is a part's loop with one knob that a student gets
wrong, so a check can say which mistake an answer matches (``nti_edu.grading.check_close``'s ``mistakes``).

With every knob at its default each function computes the right answer; the checks compare with the package's own
implementations, and use these only to name what went wrong.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ddim import ddim_inverse_step, ddim_step
from .guidance import guided_eps


def sample_with(model, x_T, emb_cond, num_steps, *, at_t_prev=False, cleanest_first=False):
    """Deterministic DDIM sampling at w = 1 (01, Part 3), the UNet asked at ``step.t_prev`` or the steps reversed."""
    x_t, steps = x_T, model.schedule.steps(num_steps)
    for step in (steps[::-1] if cleanest_first else steps):
        eps_pred = model.predict_eps(x_t, step.t_prev if at_t_prev else step.t, emb_cond)  # (B, C, h, w)
        x_t = ddim_step(x_t, eps_pred, step.alpha_bar_t, step.alpha_bar_prev)
    return x_t


def invert_with(model, x_0, emb_cond, num_steps, *, at_t_prev=False, noisiest_first=False):
    """DDIM inversion at w = 1 (02, Part 2), [x_T, ..., x_0]: the UNet asked at ``step.t_prev``, or the steps
    walked noisiest first."""
    x_t, trajectory, steps = x_0, [x_0], model.schedule.steps(num_steps)
    for step in (steps if noisiest_first else steps[::-1]):
        eps_pred = model.predict_eps(x_t, step.t_prev if at_t_prev else step.t, emb_cond)  # (B, C, h, w)
        x_t = ddim_inverse_step(x_t, eps_pred, step.alpha_bar_prev, step.alpha_bar_t)
        trajectory.append(x_t)
    return trajectory[::-1]


def tune_with(model, step, x_t, eps_cond, emb_null, pivot, num_inner_steps, w, *, decay=True, growing=True,
              stop="after"):
    """Algorithm 1's inner loop (04, Part 2): (tuned emb_null, losses). ``decay=False``: lr 1e-2 at every step;
    ``growing=False``: the early-stop threshold 1e-5 at every step; ``stop``: "after" the update (right),
    "before" it, or "never"."""
    emb_null = emb_null.detach().clone().requires_grad_(True)  # (B, L, D)
    optimizer = torch.optim.Adam([emb_null], lr=1e-2 * (1 - step.i / 100) if decay else 1e-2)
    threshold, losses = 1e-5 + (2e-5 * step.i if growing else 0.0), []
    for _ in range(num_inner_steps):
        eps_null = model.predict_eps(x_t, step.t, emb_null)  # (B, C, h, w)
        x_prev = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), step.alpha_bar_t, step.alpha_bar_prev)
        loss = (x_prev - pivot).pow(2).flatten(1).mean(1)  # (B,)
        losses.append(loss.mean().item())
        if stop == "before" and losses[-1] < threshold:
            break
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
        if stop == "after" and losses[-1] < threshold:
            break
    return emb_null.detach(), losses


def null_text_with(model, latents, emb_cond, tune, w, *, advance_with_empty=False, restart_from_empty=False):
    """Algorithm 1's outer loop (04, Part 3) with ``tune`` as the inner loop: the tuned null of every step."""
    empty = model.null_embedding(emb_cond.shape[0])  # (B, L, D)
    x_t, emb_null, nulls = latents[0], empty, []
    for step in model.schedule.steps(len(latents) - 1):
        with torch.no_grad():
            eps_cond = model.predict_eps(x_t, step.t, emb_cond)  # (B, C, h, w)
        start = empty if restart_from_empty else emb_null
        emb_null, _ = tune(model, step, x_t, eps_cond, start, latents[step.i + 1], w)
        nulls.append(emb_null)
        with torch.no_grad():
            eps_null = model.predict_eps(x_t, step.t, empty if advance_with_empty else emb_null)
            x_t = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), step.alpha_bar_t, step.alpha_bar_prev)
    return nulls


def word_swap_with(probs, heads, mapper, token_alpha, *, into=3, transposed=False, alpha="right"):
    """Cross-attention injection (05, Part 1) into batch entry ``into``; the mapper ``transposed``; ``alpha``:
    "right", "ignored" (the mapped map everywhere) or "swapped" (the target's own map where token_alpha is 1)."""
    out = probs.view(4, heads, *probs.shape[1:]).clone()  # (4, heads, P, K)
    mapped = torch.einsum("hpw,wn->hpn", out[2], mapper.T if transposed else mapper)  # (heads, P, K)
    keep = {"right": token_alpha, "ignored": torch.ones_like(token_alpha), "swapped": 1 - token_alpha}[alpha]
    out[into] = mapped * keep + out[3] * (1 - keep)
    return out.view_as(probs)


def local_blend_with(x_t, word_maps, threshold, *, pool=True, union=True, reversed_=False):
    """Prompt-to-Prompt's local blend (05, Part 2) of x_t (2, C, h, w) = [source, target]."""
    maps = F.max_pool2d(word_maps, 3, stride=1, padding=1) if pool else word_maps  # (2, 1, s, s)
    maps = F.interpolate(maps, size=tuple(x_t.shape[-2:]))  # (2, 1, h, w)
    low = maps.amin(dim=(2, 3), keepdim=True)
    inside = (maps - low) / (maps.amax(dim=(2, 3), keepdim=True) - low) > threshold  # (2, 1, h, w)
    mask = (inside[:1] | inside if union else inside).float()
    return x_t + mask * (x_t[:1] - x_t) if reversed_ else x_t[:1] + mask * (x_t - x_t[:1])


def direct_with(model, latents, emb_cond, w, *, back_on_pivot=True, sign=1.0, pivot_offset=1):
    """PnP Inversion's gaps (06, Part 2): not put ``back_on_pivot``, of the other ``sign``, or against the pivot
    ``latents[step.i + pivot_offset]``."""
    emb_null, x_t, gaps = model.null_embedding(emb_cond.shape[0]), latents[0], []
    for step in model.schedule.steps(len(latents) - 1):
        eps = guided_eps(model.predict_eps(x_t, step.t, emb_null), model.predict_eps(x_t, step.t, emb_cond), w)
        x_prev = ddim_step(x_t, eps, step.alpha_bar_t, step.alpha_bar_prev)  # (B, C, h, w)
        gaps.append(sign * (latents[step.i + pivot_offset] - x_prev))
        x_t = latents[step.i + 1] if back_on_pivot else x_prev
    return gaps


def textual_inversion_with(model, latents, emb_cond, num_inner_steps, w, *, advance_with_prompt=False,
                           restart_from_prompt=False):
    """Algorithm 1 with C_t tuned (07, Part 2; ``nti_edu.ablations.optimize_conds``): the tuned C of every step,
    the advance made with psi(P) instead of the tuned C_t, or each step's tuning restarted from psi(P)."""
    from .ablations import cond_pivotal_loss
    from .null_text import NullTextConfig, tune_null

    config = NullTextConfig(num_steps=len(latents) - 1, w=w, num_inner_steps=num_inner_steps)
    empty = model.null_embedding(emb_cond.shape[0])  # (B, L, D), fixed
    x_t, emb, conds = latents[0], emb_cond, []
    for step in model.schedule.steps(config.num_steps):
        with torch.no_grad():
            eps_null = model.predict_eps(x_t, step.t, empty)  # (B, C, h, w)
        start = emb_cond if restart_from_prompt else emb
        emb, _ = tune_null(model, step, x_t, eps_null, start, latents[step.i + 1], config, loss=cond_pivotal_loss)
        conds.append(emb)
        with torch.no_grad():
            eps_cond = model.predict_eps(x_t, step.t, emb_cond if advance_with_prompt else emb)
            x_t = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), step.alpha_bar_t, step.alpha_bar_prev)
    return conds
