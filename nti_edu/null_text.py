"""Null-text inversion written out: Mokady, Hertz, Aberman, Pritch and Cohen-Or, "Null-text Inversion
for Editing Real Images using Guided Diffusion Models", CVPR 2023, Algorithm 1.

Two ideas (sec. 3):
1. Pivotal inversion (sec. 3.1): DDIM inversion at w = 1 with the source prompt gives the pivots
   x*_0 .. x*_T. Sampling at w = 7.5 drifts away from them; the pivots say where it should be.
2. Null-text optimisation (sec. 3.2): keep the model and the prompt embedding fixed and tune the null
   ("") embedding, one copy per sampling step, to minimise the pivotal loss (eq. 3)

       min over emb_null_t of || x*_{t-1} - x_{t-1}(x_bar_t, emb_null_t, emb_cond) ||^2

   where x_{t-1}(...) is one guided DDIM step (w = 7.5) from the current latent x_bar_t.

The defaults are the official code's: Adam with learning rate 1e-2 * (1 - i / 100) at step i, up to 10
iterations, stop once the loss falls under 1e-5 + 2e-5 * i, start every step from the previous step's
tuned embedding, and compute the conditional prediction once per step, with no gradient.
"""
from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm

from .ddim import ddim_step
from .guidance import check_guidance, guided_eps
from .inversion import ddim_invert
from .models.prompts import as_prompt_list
from .result import InversionResult


def pivots(model, images: torch.Tensor, prompts, *, num_steps: int, progress: bool = False):
    """Pivotal inversion (sec. 3.1): DDIM inversion at w = 1 with the source prompt.

    Returns (latents, emb_cond, prompts): the pivots x*_0..x*_T (N + 1 of (B, C, h, w), cleanest
    first), the prompt embeddings (B, L, D) and the prompts as a list of B strings.
    """
    prompts = as_prompt_list(prompts)
    x_0 = model.image_to_latent(images)  # (B, C, h, w)
    emb_cond = model.encode_prompt(prompts)  # (B, L, D)
    if emb_cond.shape[0] != x_0.shape[0]:
        raise ValueError(f"got {emb_cond.shape[0]} prompts for {x_0.shape[0]} images; give one prompt per image")
    latents = ddim_invert(model, x_0, emb_cond, num_steps=num_steps, w=1.0, progress=progress)
    return latents, emb_cond, prompts


def pivotal_loss(model, x_t, t: int, t_prev: int, eps_cond, emb_null, pivot_prev, w: float) -> torch.Tensor:
    """The pivotal loss (eq. 3), one value per image: the mean squared distance between one guided DDIM
    step from x_t (B, C, h, w) and the pivot x*_{t_prev} (B, C, h, w). Differentiable in emb_null (B, L, D);
    eps_cond (B, C, h, w) is a constant. Returns (B,).
    """
    schedule = model.schedule
    eps_null = model.predict_eps(x_t, t, emb_null)  # (B, C, h, w), carries the gradient
    eps_pred = guided_eps(eps_null, eps_cond, w)  # (B, C, h, w)
    x_prev = ddim_step(x_t, eps_pred, schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev))  # (B, C, h, w)
    return (x_prev.float() - pivot_prev.float()).pow(2).flatten(1).mean(1)  # (B,)


def adam_iteration(model, optimizer, params, active, x_t, t, t_prev, eps_cond, pivot_prev, w) -> list[float]:
    """One Adam update of the null embeddings of the images in ``active``; returns their losses before it.

    params: one (1, L, D) leaf per image. Summing the per-image losses gives each embedding the gradient
    of its own image's loss, so a batch optimises every image as a run of its own would.
    """
    emb_null = torch.cat([params[b] for b in active])  # (A, L, D)
    loss = pivotal_loss(model, x_t[active], t, t_prev, eps_cond[active], emb_null, pivot_prev[active], w)  # (A,)
    optimizer.zero_grad(set_to_none=True)  # images without a gradient are skipped by Adam
    loss.sum().backward()
    optimizer.step()
    return loss.detach().tolist()  # one device sync per iteration, as the official code's loss.item()


def check_finite(values, step_index: int, t: int, what: str) -> None:
    """Raise a FloatingPointError naming the step when ``values`` (floats or a tensor) hold NaN or inf."""
    finite = torch.isfinite(values).all().item() if torch.is_tensor(values) else all(map(math.isfinite, values))
    if not finite:
        raise FloatingPointError(f"null-text inversion diverged at step {step_index} (t = {t}): the {what} holds "
                                 "NaN or inf; check the model's noise prediction and the input latents")


def optimize_step(model, x_t, t: int, t_prev: int, eps_cond, emb_null, pivot_prev, *, w: float = 7.5,
                  num_inner_steps: int = 10, lr: float = 1e-2, threshold: float | None = 1e-5,
                  step_index: int = 0) -> tuple[torch.Tensor, list[float]]:
    """The inner loop of Algorithm 1 for one sampling step t -> t_prev: tune emb_null (B, L, D) by Adam.

    Each image stops on its own once its loss falls under ``threshold`` (None: never stop early).
    Returns (the tuned embeddings (B, L, D), detached; per iteration, the mean loss of the images
    still being tuned, taken before that iteration's update).
    """
    # 1. one leaf per image, starting from the given embedding (the previous step's tuned one)
    params = [e.detach().clone().unsqueeze(0).requires_grad_(True) for e in emb_null]  # B x (1, L, D)
    optimizer = torch.optim.Adam(params, lr=lr)
    active, losses = list(range(len(params))), []
    for _ in range(num_inner_steps):
        # 2. one gradient step on the pivotal loss (eq. 3)
        values = adam_iteration(model, optimizer, params, active, x_t, t, t_prev, eps_cond, pivot_prev, w)
        check_finite(values, step_index, t, "pivotal loss")
        losses.append(sum(values) / len(values))
        # 3. early stop, image by image: loss < epsilon + 2e-5 * i (the official rule)
        active = [b for b, v in zip(active, values) if threshold is None or not v < threshold]
        if not active:
            break
    return torch.cat(params).detach(), losses  # (B, L, D)


@torch.no_grad()
def advance(model, x_t, t: int, t_prev: int, eps_cond, emb_null, w: float, step_index: int = 0) -> torch.Tensor:
    """x_bar_{t-1}: one guided DDIM step from x_t (B, C, h, w) with the tuned null embedding (no gradient)."""
    eps_null = model.predict_eps(x_t, t, emb_null)  # (B, C, h, w)
    schedule = model.schedule
    x_prev = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev))
    check_finite(x_prev, step_index, t, "latent after the guided DDIM step")
    return x_prev  # (B, C, h, w)


def optimize_nulls(model, latents, emb_cond, *, w: float = 7.5, num_inner_steps: int = 10, lr: float = 1e-2,
                   early_stop_eps: float | None = 1e-5, progress: bool = True, callback=None):
    """Algorithm 1's outer loop over the sampling steps, noisiest first.

    latents: the pivots x*_0..x*_T (cleanest first), emb_cond: (B, L, D). Returns (one tuned (B, L, D)
    null embedding per step, the per-step loss histories). ``callback(i, losses)`` follows each step.
    """
    schedule, N = model.schedule, len(latents) - 1
    emb_null, x_t = model.null_embedding(emb_cond.shape[0]), latents[-1]  # emb_null_T = "", x_bar_T = x*_T
    nulls, histories = [], []
    bar = tqdm(schedule.pairs(N), desc="null-text inversion", disable=not progress)
    for i, (t, t_prev) in enumerate(bar):
        # 1. the conditional prediction, once per step, with no gradient
        with torch.no_grad():
            eps_cond = model.predict_eps(x_t, t, emb_cond)  # (B, C, h, w)
        # 2. tune this step's null embedding, starting from the previous step's
        threshold = None if early_stop_eps is None else early_stop_eps + 2e-5 * i
        emb_null, losses = optimize_step(model, x_t, t, t_prev, eps_cond, emb_null, latents[N - i - 1], w=w,
                                         num_inner_steps=num_inner_steps, lr=lr * (1 - i / 100),
                                         threshold=threshold, step_index=i)
        # 3. advance the current latent with the tuned embedding
        x_t = advance(model, x_t, t, t_prev, eps_cond, emb_null, w, step_index=i)
        nulls.append(emb_null)
        histories.append(losses)
        bar.set_postfix(loss=f"{losses[-1]:.2e}" if losses else "-")
        if callback is not None:
            callback(i, losses)
    return nulls, histories


def check_count(name: str, value, minimum: int) -> int:
    """Return ``value`` if it is an integer >= minimum, else raise a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_settings(num_steps, num_inner_steps, lr, early_stop_eps) -> None:
    """Raise a ValueError for settings null-text inversion cannot use."""
    if isinstance(num_steps, int) and num_steps > 100:
        raise ValueError(f"null-text inversion decays the learning rate as lr * (1 - i / 100) (the official "
                         f"code's rule), so it allows at most 100 steps, got num_steps={num_steps}")
    check_count("num_inner_steps (0 = no tuning)", num_inner_steps, 0)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if early_stop_eps is not None and (not isinstance(early_stop_eps, (int, float)) or isinstance(early_stop_eps, bool)
                                       or not math.isfinite(early_stop_eps) or early_stop_eps < 0):
        raise ValueError("early_stop_eps must be a finite number >= 0, or None to never stop early, "
                         f"got {early_stop_eps!r}")


def null_text_inversion(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 7.5,
                        num_inner_steps: int = 10, lr: float = 1e-2, early_stop_eps: float | None = 1e-5,
                        progress: bool = True, callback=None) -> InversionResult:
    """Null-text inversion of images in [0, 1] (B, 3, H, W) with one source prompt per image (Algorithm 1).

    Returns an ``InversionResult`` (method "null-text") whose ``emb_null`` holds the tuned null
    embedding of every sampling step, (B, L, D) each, and ``losses`` each step's loss history.
    """
    check_settings(num_steps, num_inner_steps, lr, early_stop_eps)
    w = check_guidance(w)
    start = time.perf_counter()
    # 1. pivots x*_0..x*_T: DDIM inversion at w = 1 (sec. 3.1)
    latents, emb_cond, prompts = pivots(model, images, prompts, num_steps=num_steps, progress=progress)
    pivot_seconds = time.perf_counter() - start
    # 2. the per-step null embeddings (sec. 3.2)
    nulls, losses = optimize_nulls(model, latents, emb_cond, w=w, num_inner_steps=num_inner_steps, lr=lr,
                                   early_stop_eps=early_stop_eps, progress=progress, callback=callback)
    settings = {"w_invert": 1.0, "num_inner_steps": num_inner_steps, "lr": lr, "early_stop_eps": early_stop_eps,
                "pivot_seconds": pivot_seconds}
    return InversionResult(method="null-text", prompts=prompts, num_steps=num_steps, w=w, latents=latents,
                           emb_cond=emb_cond, emb_null=nulls, losses=losses,
                           seconds=time.perf_counter() - start, settings=settings)


def global_null_text_inversion(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 7.5,
                               num_epochs: int = 10, lr: float = 1e-2, progress: bool = True,
                               callback=None) -> InversionResult:
    """The paper's ablation "global null-text embedding" (sec. 4): one null embedding for all steps.

    Each epoch walks the steps from T down as Algorithm 1 does, with one Adam update of the shared
    embedding per step (so ``num_epochs`` = 10 costs what 10 inner iterations cost), and advances the
    current latent with it. ``losses[i]`` holds step i's loss at every epoch; ``callback(i, losses[i])``.
    """
    check_settings(None, check_count("num_epochs", num_epochs, 1), lr, None)
    w = check_guidance(w)
    start = time.perf_counter()
    latents, emb_cond, prompts = pivots(model, images, prompts, num_steps=num_steps, progress=progress)
    params = [e.clone().unsqueeze(0).requires_grad_(True) for e in model.null_embedding(emb_cond.shape[0])]
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = [[] for _ in range(num_steps)]
    for _ in tqdm(range(num_epochs), desc="global null-text inversion", disable=not progress):
        run_global_epoch(model, latents, emb_cond, params, optimizer, losses, w, callback)
    emb_null = torch.cat(params).detach()  # (B, L, D), the same at every step
    return InversionResult(method="global-null-text", prompts=prompts, num_steps=num_steps, w=w, latents=latents,
                           emb_cond=emb_cond, emb_null=[emb_null] * num_steps, losses=losses,
                           seconds=time.perf_counter() - start,
                           settings={"w_invert": 1.0, "num_epochs": num_epochs, "lr": lr})


def run_global_epoch(model, latents, emb_cond, params, optimizer, losses, w, callback=None) -> None:
    """One pass over the steps from T down, one Adam update of the shared null embedding per step."""
    N, everyone = len(latents) - 1, list(range(len(params)))
    x_t = latents[-1]  # x*_T, (B, C, h, w)
    for i, (t, t_prev) in enumerate(model.schedule.pairs(N)):
        with torch.no_grad():
            eps_cond = model.predict_eps(x_t, t, emb_cond)  # (B, C, h, w)
        values = adam_iteration(model, optimizer, params, everyone, x_t, t, t_prev, eps_cond, latents[N - i - 1], w)
        check_finite(values, i, t, "pivotal loss")
        losses[i].append(sum(values) / len(values))
        x_t = advance(model, x_t, t, t_prev, eps_cond, torch.cat(params).detach(), w, step_index=i)
        if callback is not None:
            callback(i, losses[i])
