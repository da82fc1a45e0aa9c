"""The paper's ablations of null-text inversion, and the SDEdit baseline, on the shared code.

Mokady, Hertz, Aberman, Pritch and Cohen-Or, "Null-text Inversion for Editing Real Images using Guided
Diffusion Models", CVPR 2023, sec. 4 (Fig. 4): each variant changes one thing in Algorithm 1 and is measured
by its reconstruction PSNR against the optimisation iterations it spends (``N`` per step, as null-text).

* Random pivot: the pivots are not DDIM inversion's trajectory but the input's encoding z_0 noised with one
  Gaussian sample per image, z*_t = sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps (Ho et al. 2020, eq. 4);
  the null embeddings are then tuned around them as Algorithm 1 does (``optimize_nulls``).
* Textual inversion (Gal et al., ICLR 2023; the paper's eq. 4): the prompt embedding C is tuned by the
  noise-prediction loss || eps - eps_theta(z_t, t, C) ||^2 at random t and eps, with no pivot at all.
* Textual inversion with a pivot: Algorithm 1 with C in the null's place, one C_t per step tuned on the
  pivotal loss (eq. 3) while the null embedding stays "".
* Global null embedding: ``nti_edu.null_text.global_null_text_inversion``.
* SDEdit (Meng et al., ICLR 2022), the baseline that inverts nothing: noise the image to t0 = strength * T,
  then denoise with the target prompt (the paper's sec. 5.2 sweeps t0).

Every inversion here returns an ``InversionResult``, so ``reconstruct``, ``edit`` and ``storage`` take it.
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch
from tqdm.auto import tqdm

from .ddim import ddim_step
from .guidance import check_guidance, guided_eps
from .inversion import ddim_invert
from .models.prompts import as_prompt_list
from .null_text import (NullTextConfig, PerImageAdam, at_least_float32, check_finite, check_pivots, loss_scale,
                        make_config, null_text_result, optimize_nulls, pivots, tune_null)
from .result import InversionResult
from .schedule import Step
from .trajectory import guided_trajectory, walk_to_x0


def noised(x_0: torch.Tensor, eps: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """q(z_t | z_0) sampled with the given noise (Ho et al. 2020, eq. 4): sqrt(a) z_0 + sqrt(1 - a) eps, (B, C, h, w)
    for a = alpha_bar_t."""
    return alpha_bar_t**0.5 * x_0 + (1 - alpha_bar_t) ** 0.5 * eps  # (B, C, h, w)


def seeded_noise(like: torch.Tensor, seed: int) -> torch.Tensor:
    """Gaussian noise shaped like ``like`` (B, C, h, w), drawn on the CPU from ``seed`` (the same on every device)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(like.shape, generator=g, dtype=torch.float64).to(like.device, like.dtype)  # (B, C, h, w)


# -- random pivot (sec. 4) ---------------------------------------------------------------------------------

def random_pivots(model, images: torch.Tensor, prompts, *, num_steps: int, seed: int = 0) -> InversionResult:
    """The paper's "random pivot" (sec. 4): one random trajectory that shares z*_0 = z_0, the input's encoding.

    One Gaussian eps per image (from ``seed``) noises z_0 to every sampling step's level t:
    latents[i] = sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps for step i's t, latents[-1] = z_0.
    N + 1 of (B, C, h, w), noisiest first, in the place of DDIM inversion's pivots.
    """
    num_steps = model.schedule.check_steps(num_steps)
    prompts = as_prompt_list(prompts)
    x_0 = model.image_to_latent(images)  # (B, C, h, w)
    eps = seeded_noise(x_0, seed)  # (B, C, h, w)
    latents = [noised(x_0, eps, step.alpha_bar_t.to(x_0)) for step in model.schedule.steps(num_steps)] + [x_0]
    emb_cond = model.encode_prompt(prompts)  # (B, L, D)
    return InversionResult(method="random-pivot", prompts=prompts, num_steps=num_steps, w=1.0, latents=latents,
                           emb_cond=emb_cond, emb_null=[model.null_embedding(len(prompts))] * num_steps,
                           settings={"seed": seed})


def random_pivot_inversion(model, images: torch.Tensor, prompts, config: NullTextConfig | None = None, *,
                           seed: int = 0, progress: bool = True, callback=None, **settings) -> InversionResult:
    """Null-text inversion around random pivots (sec. 4, "Random pivot"): Algorithm 1 unchanged, but its pivots
    are ``random_pivots`` instead of DDIM inversion at w = 1. Reconstruction starts from z*_T, the noised z_0."""
    config = make_config(config, settings)
    start = time.perf_counter()
    pivotal = random_pivots(model, images, prompts, num_steps=config.num_steps, seed=seed)
    nulls, losses = optimize_nulls(model, pivotal.latents, pivotal.emb_cond, config, progress=progress,
                                   callback=callback)
    result = null_text_result(pivotal, config, nulls, losses, start, 0.0)
    return replace(result, method="random-pivot", settings={**result.settings, "seed": seed})


# -- textual inversion with a pivot (sec. 4): Algorithm 1 with C tuned instead of the null ----------------------

def cond_pivotal_loss(model, step: Step, x_t, eps_null, emb_cond, pivot, w: float) -> torch.Tensor:
    """Eq. 3 with the roles swapped: min over C_t of || z*_{t-1} - z_{t-1}(z_bar_t, emb_null, C_t) ||^2.

    eps_null (B, C, h, w) is the "" embedding's prediction, a constant; emb_cond (B, L, D) carries the gradient.
    The same argument order as ``null_text.pivotal_loss`` (the fixed prediction, then the tuned embedding), so
    ``null_text.tune_null`` runs it. Returns (B,).
    """
    eps_cond = model.predict_eps(x_t, step.t, emb_cond)  # (B, C, h, w), carries the gradient
    x_prev = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), step.alpha_bar_t, step.alpha_bar_prev)
    return (at_least_float32(x_prev) - at_least_float32(pivot)).pow(2).flatten(1).mean(1)  # (B,)


def advance_cond(model, step: Step, x_t, eps_null, emb_cond, w: float) -> torch.Tensor:
    """Algorithm 1's advance with the tuned C_t: z_bar_{t-1} = z_{t-1}(z_bar_t, emb_null, C_t), (B, C, h, w)."""
    with torch.no_grad():
        eps_cond = model.predict_eps(x_t, step.t, emb_cond)  # (B, C, h, w)
        x_prev = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), step.alpha_bar_t, step.alpha_bar_prev)
    check_finite(x_prev, step, "latent after the guided DDIM step")
    return x_prev  # (B, C, h, w)


def optimize_conds(model, latents, emb_cond, config: NullTextConfig, *, progress: bool = True, callback=None):
    """Algorithm 1's loop with C_t tuned and the null embedding kept at "" (sec. 4, "Textual inversion with a
    pivot"). C_t starts from the previous step's (C = psi(P) at T). The same steps as ``optimize_nulls``:
    (1) the fixed prediction once, (2) ``tune_null``'s inner loop on ``cond_pivotal_loss``, (3) the advance.
    Returns (one tuned (B, L, D) C per step, each step's loss history)."""
    check_pivots(latents, config)
    x_t, emb_null = latents[0], model.null_embedding(emb_cond.shape[0])  # z_bar_T <- z*_T; "" (B, L, D)
    conds, histories = [], []
    for step in tqdm(model.schedule.steps(config.num_steps), desc="textual inversion", disable=not progress):
        with torch.no_grad():
            eps_null = model.predict_eps(x_t, step.t, emb_null)  # (1) the null prediction, once, (B, C, h, w)
        emb_cond, losses = tune_null(model, step, x_t, eps_null, emb_cond, latents[step.i + 1], config,
                                     loss=cond_pivotal_loss)  # (2) tune C_t towards z*_{t-1}
        x_t = advance_cond(model, step, x_t, eps_null, emb_cond, config.w)  # (3) z_bar_{t-1}
        conds.append(emb_cond)
        histories.append(losses)
        if callback is not None:
            callback(step.i, losses)
    return conds, histories


def pivotal_textual_inversion(model, images: torch.Tensor, prompts, config: NullTextConfig | None = None, *,
                              progress: bool = True, callback=None, **settings) -> InversionResult:
    """Textual inversion with a pivot (sec. 4): the pivots of Algorithm 1, then one tuned C_t per step.

    The result (method "textual-inversion-pivot") keeps the null embedding "" at every step and holds the
    tuned C_t in ``emb_conds``; ``emb_cond`` stays psi(P), the prompt's own embedding, which editing uses
    to move C_t towards a target prompt (``nti_edu.editing``). Settings as ``null_text_inversion``'s.
    """
    config = make_config(config, settings)
    model.schedule.check_steps(config.num_steps)
    start = time.perf_counter()
    pivotal = pivots(model, images, prompts, num_steps=config.num_steps, progress=progress)
    pivot_seconds = time.perf_counter() - start
    conds, losses = optimize_conds(model, pivotal.latents, pivotal.emb_cond, config, progress=progress,
                                   callback=callback)
    result = null_text_result(pivotal, config, pivotal.emb_null, losses, start, pivot_seconds)
    return replace(result, method="textual-inversion-pivot", emb_conds=conds)


# -- textual inversion without a pivot (sec. 4, eq. 4) -----------------------------------------------------------

def noise_prediction_loss(model, x_0, emb_cond, generator: torch.Generator) -> torch.Tensor:
    """Eq. 4's summand at one random draw: || eps - eps_theta(z_t, t, C) ||^2 per image, (B,).

    t uniform over the training timesteps (one t for the batch), eps ~ N(0, I) per image, both from ``generator``.
    """
    t = int(torch.randint(model.schedule.num_train_timesteps, (1,), generator=generator))
    eps = torch.randn(x_0.shape, generator=generator, dtype=torch.float64).to(x_0)  # (B, C, h, w)
    z_t = noised(x_0, eps, model.schedule.alpha_bar[t].to(x_0))  # (B, C, h, w)
    return (at_least_float32(model.predict_eps(z_t, t, emb_cond)) - at_least_float32(eps)).pow(2).flatten(1).mean(1)


def textual_inversion(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 7.5,
                      num_inner_steps: int = 10, lr: float = 1e-2, seed: int = 0,
                      progress: bool = True) -> InversionResult:
    """Textual inversion as the paper's ablation defines it (sec. 4, eq. 4; Gal et al. 2023): one C per image,
    min over C of E_{t, eps} || eps - eps_theta(z_t, t, C) ||^2, with no pivot.

    The budget is null-text's: num_steps * num_inner_steps Adam iterations (constant lr, no early stop).
    Our reading where the paper is silent: C is the text encoder's output psi(P) (B, L, D), started at the
    prompt's; t is uniform over the training timesteps; x_T is DDIM inversion at w = 1 with the tuned C
    (Algorithm 1's first line, with this C), sampled back at w with the null "". The tuned C is the result's
    ``emb_conds`` at every step (``emb_cond`` stays psi(P)), as for ``pivotal_textual_inversion``.
    """
    config = NullTextConfig(num_steps=num_steps, w=w, num_inner_steps=num_inner_steps, lr=lr, early_stop_eps=None)
    model.schedule.check_steps(num_steps)
    start, prompts = time.perf_counter(), as_prompt_list(prompts)
    x_0, generator = model.image_to_latent(images), torch.Generator().manual_seed(seed)  # (B, C, h, w)
    adam = PerImageAdam(model.encode_prompt(prompts), lr=lr, loss_scale=loss_scale(model))
    losses = [[] for _ in range(num_steps)]  # grouped as null-text's: num_inner_steps per "step"
    for k in tqdm(range(num_steps * num_inner_steps), desc="textual inversion", disable=not progress):
        loss = noise_prediction_loss(model, x_0, adam.embeddings(), generator)  # (B,)
        losses[k // num_inner_steps].append(sum(adam.step(loss)) / len(prompts))
    emb_cond = adam.tuned()  # (B, L, D)
    latents = ddim_invert(model, x_0, emb_cond, num_steps=num_steps, w=1.0)  # x_T .. x_0 with the tuned C
    return InversionResult(method="textual-inversion", prompts=prompts, num_steps=num_steps, w=config.w,
                           latents=latents, emb_cond=model.encode_prompt(prompts), emb_conds=[emb_cond] * num_steps,
                           emb_null=[model.null_embedding(len(prompts))] * num_steps, losses=losses,
                           seconds=time.perf_counter() - start,
                           settings={"w_invert": 1.0, "num_inner_steps": num_inner_steps, "lr": lr, "seed": seed})


# -- SDEdit (Meng et al., ICLR 2022) -----------------------------------------------------------------------------

def check_strength(strength) -> float:
    """SDEdit's t0 / T as a float in [0, 1], or a ValueError."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise ValueError(f"SDEdit's strength t0 / T must be a number from 0 (keep the image) to 1 (ignore it), "
                         f"got {strength!r}")
    return float(strength)


def sdedit_start(model, x_0: torch.Tensor, strength: float, num_steps: int, seed: int) -> tuple[int, torch.Tensor]:
    """(the first sampling step, its latent): the last round(strength * N) of N steps remain, and z_0 (B, C, h, w)
    is noised to the first one's level. At strength 1 the latent is the noise itself (the image ignored)."""
    first = num_steps - round(strength * num_steps)
    eps = seeded_noise(x_0, seed)  # (B, C, h, w)
    if first == 0:
        return 0, eps  # t0 = T: SDEdit's forward SDE has forgotten the image (alpha_bar ~ 0)
    if first == num_steps:
        return first, x_0  # t0 = 0: nothing to denoise
    return first, noised(x_0, eps, model.schedule.steps(num_steps)[first].alpha_bar_t.to(x_0))


def sdedit(model, images: torch.Tensor, prompts, *, strength: float, num_steps: int = 50, w: float = 7.5,
           seed: int = 0, progress: bool = False) -> torch.Tensor:
    """SDEdit (Meng et al., ICLR 2022, Algorithm 1 with the DDIM sampler, as the null-text paper's sec. 5.2
    runs it on Stable Diffusion): noise the image to t0 = strength * T, denoise with ``prompts`` (the target)
    at guidance w with the null "". Returns images in [0, 1] (B, 3, H, W).

    Strength 0 returns the VAE round trip; strength 1 samples from the seeded noise alone. Steps: the last
    round(strength * num_steps) of the num_steps-step schedule.
    """
    strength, w = check_strength(strength), check_guidance(w)
    num_steps, prompts = model.schedule.check_steps(num_steps), as_prompt_list(prompts)
    x_0 = model.image_to_latent(images)  # (B, C, h, w)
    first, x_start = sdedit_start(model, x_0, strength, num_steps, seed)
    emb_cond = model.encode_prompt(prompts)  # (B, L, D)
    nulls = [model.null_embedding(len(prompts))] * num_steps
    x_0_edited = walk_to_x0(guided_trajectory(model, x_start, emb_cond, num_steps=num_steps, w=w, nulls=nulls,
                                              first_step=first, progress=progress, desc="SDEdit"))  # (B, C, h, w)
    return model.latent_to_image(x_0_edited)  # (B, 3, H, W)
