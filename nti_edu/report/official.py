"""The official notebook's null-text loop, as it runs there: the speed reference of benchmarks/nti_speed.py.

``NullInversion.null_optimization`` of google/prompt-to-prompt's null_text_w_ptp.ipynb (Mokady et al.
2023, Algorithm 1) with its costs kept: float32, the UNet's weights left trainable (a loaded pipeline leaves
them so; their gradients pile up unused), one ``loss.item()`` per inner iteration, a fresh Adam per step
with lr 1e-2 * (1 - i / 100), the conditional prediction once per step, and a batched (null, cond) call
for the guided step. One image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ddim import ddim_step
from ..guidance import guided_eps


def official_loop(model, latents, emb_cond, *, num_inner_steps=10, early_stop_eps=1e-5, w=7.5):
    """(per-step null embeddings, per-step loss histories) from the pivots ``latents`` (noisiest first)."""
    unet, N = model.unet, len(latents) - 1
    unet.requires_grad_(True)
    try:
        emb_null, x_t, nulls, histories = model.null_embedding(1), latents[0], [], []
        for i, step in enumerate(model.schedule.steps(N)):
            emb_null, x_t, history = official_step(model, i, step, x_t, emb_null, emb_cond, latents[i + 1],
                                                   num_inner_steps, early_stop_eps, w)
            nulls.append(emb_null)
            histories.append(history)
        return nulls, histories
    finally:
        unet.requires_grad_(False)
        unet.zero_grad(set_to_none=True)


def official_step(model, i, step, x_t, emb_null, emb_cond, pivot_prev, num_inner_steps, early_stop_eps, w):
    """One step of the official loop: (tuned null (1, L, D), x_{t-1}, the step's losses)."""
    unet, a_t, a_prev = model.unet, step.alpha_bar_t, step.alpha_bar_prev
    t = torch.tensor(step.t)  # scheduler.timesteps[i]: a CPU tensor
    emb_null = emb_null.clone().detach().requires_grad_(True)
    optimizer = torch.optim.Adam([emb_null], lr=1e-2 * (1.0 - i / 100.0))
    with torch.no_grad():
        eps_cond = unet(x_t, t, encoder_hidden_states=emb_cond).sample
    history = []
    for _ in range(num_inner_steps):
        eps_null = unet(x_t, t, encoder_hidden_states=emb_null).sample
        loss = F.mse_loss(ddim_step(x_t, guided_eps(eps_null, eps_cond, w), a_t, a_prev), pivot_prev)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())  # the host waits for the device here, every iteration
        if early_stop_eps is not None and history[-1] < early_stop_eps + i * 2e-5:
            break
    with torch.no_grad():
        eps = unet(torch.cat([x_t, x_t]), t, encoder_hidden_states=torch.cat([emb_null, emb_cond])).sample
        eps_null, eps_cond = eps.chunk(2)
        x_t = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), a_t, a_prev)
    return emb_null[:1].detach(), x_t, history
