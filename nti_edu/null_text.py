"""Null-text inversion written out: Mokady, Hertz, Aberman, Pritch and Cohen-Or, "Null-text Inversion
for Editing Real Images using Guided Diffusion Models", CVPR 2023, Algorithm 1.

Two ideas (sec. 3):
1. Pivotal inversion (sec. 3.1): DDIM inversion at w = 1 with the source prompt gives the pivots
   z*_T .. z*_0. Sampling at w = 7.5 drifts away from them; the pivots say where it should be.
2. Null-text optimisation (sec. 3.2): keep the model and the prompt embedding C fixed and tune the null
   ("") embedding, one copy per sampling step, to minimise the pivotal loss (eq. 3)

       min over emb_null_t of || z*_{t-1} - z_{t-1}(z_bar_t, emb_null_t, C) ||^2

   where z_{t-1}(...) is one guided DDIM step (w = 7.5) from the current latent z_bar_t.

Algorithm 1, as ``optimize_nulls`` writes it out (after ``pivots``, its first line):

    pivots z*_T..z*_0 <- DDIM inversion at w = 1                         (sec. 3.1; ``pivots``)
    z_bar_T <- z*_T,  emb_null_T <- embedding of ""
    for t = T, ..., 1:
        (1) eps_cond <- eps_theta(z_bar_t, t, C), once, no gradient
        (2) for j = 0, ..., N - 1:                                      (``tune_null``: the inner loop)
                emb_null_t <- emb_null_t - lr_t * grad || z*_{t-1} - z_{t-1}(z_bar_t, emb_null_t, C) ||^2
        (3) z_bar_{t-1} <- z_{t-1}(z_bar_t, emb_null_t, C),  emb_null_{t-1} <- emb_null_t   (``advance``)
    return z_bar_T, {emb_null_t}

The settings are the official code's (``NullTextConfig``): Adam with learning rate 1e-2 * (1 - i / 100)
at step i, up to N = 10 iterations, an early stop once the loss falls under 1e-5 + 2e-5 * i, and the
conditional prediction computed once per step, with no gradient. Images of a batch are tuned as runs of
their own would be (``PerImageAdam``). The null embeddings, Adam's state, the DDIM step and the loss stay
in float32 (float64 for a float64 model) whatever the UNet computes in; a float16 UNet's gradients are
computed under a loss scale.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import torch
from tqdm.auto import tqdm

from .ddim import ddim_step
from .guidance import check_guidance, guided_eps
from .inversion import ddim_inversion
from .result import InversionResult
from .schedule import Step

FP16_LOSS_SCALE = 1024.0  # float16 gradients of a ~1e-3 loss fall below float16's normal range without it


@dataclass(frozen=True)
class NullTextConfig:
    """The settings of Algorithm 1; every default is the official implementation's.

    Checked once, when it is made: the functions below trust a config they are given.
    """

    num_steps: int = 50  # DDIM steps T (the paper's 50); at most 100, as the learning rate decays by i / 100
    w: float = 7.5  # guidance weight to reconstruct and edit at (Stable Diffusion's default)
    num_inner_steps: int = 10  # N, Adam iterations per step at most (0: no tuning, plain DDIM inversion)
    lr: float = 1e-2  # Adam's learning rate at the first step; step i uses lr * (1 - i / 100)
    early_stop_eps: float | None = 1e-5  # step i stops once its loss < early_stop_eps + 2e-5 * i; None: never

    def __post_init__(self):
        if isinstance(self.num_steps, bool) or not isinstance(self.num_steps, int) or not 1 <= self.num_steps <= 100:
            raise ValueError("null-text inversion decays the learning rate as lr * (1 - i / 100) (the official "
                             f"code's rule), so num_steps must be an integer from 1 to 100 (at most 100 steps), "
                             f"got {self.num_steps!r}")
        object.__setattr__(self, "w", check_guidance(self.w))
        check_count("num_inner_steps (0 = no tuning)", self.num_inner_steps, 0)
        if not is_number(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.early_stop_eps is not None and (not is_number(self.early_stop_eps) or self.early_stop_eps < 0):
            raise ValueError("early_stop_eps must be a finite number >= 0, or None to never stop early, "
                             f"got {self.early_stop_eps!r}")

    def lr_at(self, i: int) -> float:
        """Adam's learning rate at sampling step i (the official code's linear decay)."""
        return self.lr * (1 - i / 100)

    def threshold_at(self, i: int) -> float | None:
        """The early-stop threshold at sampling step i, or None (never stop early)."""
        return None if self.early_stop_eps is None else self.early_stop_eps + 2e-5 * i

    def as_dict(self) -> dict:
        return {"num_inner_steps": self.num_inner_steps, "lr": self.lr, "early_stop_eps": self.early_stop_eps}


def check_count(name: str, value, minimum: int) -> int:
    """Return ``value`` if it is an integer >= minimum, else raise a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def make_config(config: NullTextConfig | None, settings: dict) -> NullTextConfig:
    """The config to run: ``config`` as it is, or one made (and so checked) from the keyword ``settings``
    (over ``config``'s fields, or the paper's defaults)."""
    if not settings:
        return config or NullTextConfig()
    return replace(config, **settings) if config is not None else NullTextConfig(**settings)


def check_pivots(latents, config: NullTextConfig) -> None:
    """The pivots must be config.num_steps + 1 latents, z*_T .. z*_0: the config says N, the list must agree."""
    if len(latents) != config.num_steps + 1:
        raise ValueError(f"got {len(latents)} pivots for num_steps = {config.num_steps}; null-text inversion needs "
                         f"num_steps + 1 = {config.num_steps + 1} latents, z*_T .. z*_0 (noisiest first)")


# -- pivotal inversion (sec. 3.1) ------------------------------------------------------------------

def pivots(model, images: torch.Tensor, prompts, *, num_steps: int, progress: bool = False) -> InversionResult:
    """Pivotal inversion (sec. 3.1): DDIM inversion at w = 1 with the source prompt.

    Its ``latents`` are the pivots z*_T .. z*_0 (N + 1 of (B, C, h, w), noisiest first): sampling step i
    should land on ``latents[i + 1]``.
    """
    return ddim_inversion(model, images, prompts, num_steps, 1.0, progress)


# -- null-text optimisation (sec. 3.2) -------------------------------------------------------------

def pivotal_loss(model, step: Step, x_t, eps_cond, emb_null, pivot, w: float) -> torch.Tensor:
    """The pivotal loss (eq. 3), one value per image: the mean squared distance between one guided DDIM
    step from x_t (B, C, h, w) and the pivot z*_{t-1} (B, C, h, w). Differentiable in emb_null (B, L, D);
    eps_cond (B, C, h, w) is a constant. Returns (B,).
    """
    eps_null = model.predict_eps(x_t, step.t, emb_null)  # (B, C, h, w), carries the gradient
    x_prev = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), step.alpha_bar_t, step.alpha_bar_prev)
    return (at_least_float32(x_prev) - at_least_float32(pivot)).pow(2).flatten(1).mean(1)  # (B,)


def tune_null(model, step: Step, x_t, eps_cond, emb_null, pivot, config: NullTextConfig, *, loss=None):
    """Algorithm 1's inner loop at step t: up to N Adam steps on the pivotal loss, from emb_null (B, L, D).

    x_t: the current latent z_bar_t, eps_cond: its conditional prediction, pivot: z*_{t-1}, each (B, C, h, w).
    Returns (the tuned emb_null_t (B, L, D); per iteration, the mean loss of the images still being tuned,
    taken before that iteration's update). ``loss``: ``pivotal_loss`` (eq. 3) unless given; the paper's
    ablation that tunes C instead passes its own (``nti_edu.ablations.cond_pivotal_loss``).
    """
    loss_fn = pivotal_loss if loss is None else loss
    adam = PerImageAdam(emb_null, lr=config.lr_at(step.i), loss_scale=loss_scale(model))  # a fresh Adam per step
    losses = []
    for _ in range(config.num_inner_steps):  # for j = 0, ..., N - 1
        on = adam.active  # the images that have not stopped yet
        loss = loss_fn(model, step, x_t[on], eps_cond[on], adam.embeddings(), pivot[on], config.w)  # (A,)
        values = adam.step(loss)  # emb_null_t <- emb_null_t - lr_t * grad (eq. 3)
        losses.append(mean_finite(values, step))
        if adam.stop_below(values, config.threshold_at(step.i)):  # the official early stop
            break
    return adam.tuned(), losses


def advance(model, step: Step, x_t, eps_cond, emb_null, w: float) -> torch.Tensor:
    """Algorithm 1's last line: z_bar_{t-1} = z_{t-1}(z_bar_t, emb_null_t, C), one guided DDIM step (eq. 12)
    from x_t (B, C, h, w) with the tuned null embedding (B, L, D), no gradient. Returns (B, C, h, w)."""
    with torch.no_grad():
        eps_null = model.predict_eps(x_t, step.t, emb_null)  # (B, C, h, w)
        x_prev = ddim_step(x_t, guided_eps(eps_null, eps_cond, w), step.alpha_bar_t, step.alpha_bar_prev)
    check_finite(x_prev, step, "latent after the guided DDIM step")
    return x_prev  # (B, C, h, w)


def optimize_nulls(model, latents, emb_cond, config: NullTextConfig | None = None, *, progress: bool = True,
                   callback=None, **settings):
    """Algorithm 1's loop over the steps: each step's null embedding tuned, then the latent advanced with it.

    latents: the pivots z*_T .. z*_0 (config.num_steps + 1 of (B, C, h, w), noisiest first); emb_cond: C,
    (B, L, D). Returns (one tuned (B, L, D) null embedding per step, each step's loss history).
    ``callback(i, losses)`` follows each step's tuning.
    """
    config = make_config(config, settings)
    check_pivots(latents, config)
    x_t = latents[0]  # z_bar_T <- z*_T, (B, C, h, w)
    emb_null = model.null_embedding(emb_cond.shape[0])  # emb_null_T <- the embedding of "", (B, L, D)
    nulls, histories = [], []
    for step in tqdm(model.schedule.steps(config.num_steps), desc="null-text inversion", disable=not progress):
        # (1) the conditional prediction, once per step, with no gradient
        with torch.no_grad():
            eps_cond = model.predict_eps(x_t, step.t, emb_cond)  # (B, C, h, w)
        # (2) the inner loop: tune emb_null_t, from the previous step's, towards the pivot z*_{t-1}
        emb_null, losses = tune_null(model, step, x_t, eps_cond, emb_null, latents[step.i + 1], config)
        # (3) the advance with the tuned embedding
        x_t = advance(model, step, x_t, eps_cond, emb_null, config.w)  # z_bar_{t-1}, (B, C, h, w)
        nulls.append(emb_null)
        histories.append(losses)
        if callback is not None:
            callback(step.i, losses)
    return nulls, histories


def null_text_inversion(model, images: torch.Tensor, prompts, config: NullTextConfig | None = None, *,
                        progress: bool = True, callback=None, **settings) -> InversionResult:
    """Null-text inversion of images in [0, 1] (B, 3, H, W) with one source prompt per image (Algorithm 1).

    ``config`` holds the settings (default: the paper's); keyword ``settings`` (num_steps, w, num_inner_steps,
    lr, early_stop_eps) replace its fields. Returns an ``InversionResult`` (method "null-text") whose
    ``emb_null`` holds the tuned null embedding of every sampling step, (B, L, D) each, and ``losses`` each
    step's loss history.
    """
    config = make_config(config, settings)  # the settings, checked once
    model.schedule.check_steps(config.num_steps)  # and the model's own limit
    start = time.perf_counter()
    # 1. the pivots z*_T..z*_0: DDIM inversion at w = 1 (sec. 3.1)
    pivotal = pivots(model, images, prompts, num_steps=config.num_steps, progress=progress)
    pivot_seconds = time.perf_counter() - start
    # 2. the per-step null embeddings at w (sec. 3.2)
    nulls, losses = optimize_nulls(model, pivotal.latents, pivotal.emb_cond, config, progress=progress,
                                   callback=callback)
    return null_text_result(pivotal, config, nulls, losses, start, pivot_seconds)


def null_text_result(pivotal: InversionResult, config: NullTextConfig, nulls, losses, start: float,
                     pivot_seconds: float) -> InversionResult:
    """The pivots' result with the tuned null embeddings, their losses, timings and settings."""
    return replace(pivotal, method="null-text", w=config.w, emb_null=nulls, losses=losses,
                   seconds=time.perf_counter() - start,
                   settings={"w_invert": 1.0, **config.as_dict(), "pivot_seconds": pivot_seconds})


# -- the paper's ablation: one null embedding for all steps (sec. 4) -------------------------------------

def global_null_text_inversion(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 7.5,
                               num_epochs: int = 10, lr: float = 1e-2, progress: bool = True,
                               callback=None) -> InversionResult:
    """The paper's ablation "global null-text embedding" (sec. 4): one null embedding for all steps.

    Each epoch walks Algorithm 1's loop from z*_T with one Adam update of the shared embedding per step (so
    ``num_epochs`` = 10 costs what 10 inner iterations cost), and advances with it. ``losses[i]`` holds
    step i's loss at every epoch; ``callback(i, losses[i])``.
    """
    config = NullTextConfig(num_steps=num_steps, w=w, lr=lr, early_stop_eps=None)  # checks num_steps, w, lr
    check_count("num_epochs", num_epochs, 1)
    model.schedule.check_steps(num_steps)
    start = time.perf_counter()
    pivotal = pivots(model, images, prompts, num_steps=num_steps, progress=progress)
    latents, emb_cond = pivotal.latents, pivotal.emb_cond
    adam = PerImageAdam(model.null_embedding(emb_cond.shape[0]), lr=lr, loss_scale=loss_scale(model))
    losses = [[] for _ in range(num_steps)]
    for _ in tqdm(range(num_epochs), desc="global null-text", disable=not progress):
        x_t = latents[0]  # z_bar_T <- z*_T, (B, C, h, w)
        for step in model.schedule.steps(num_steps):
            with torch.no_grad():
                eps_cond = model.predict_eps(x_t, step.t, emb_cond)  # (1) (B, C, h, w)
            loss = pivotal_loss(model, step, x_t, eps_cond, adam.embeddings(), latents[step.i + 1], config.w)
            losses[step.i].append(mean_finite(adam.step(loss), step))  # (2) one update of the shared embedding
            x_t = advance(model, step, x_t, eps_cond, adam.tuned(), config.w)  # (3) (B, C, h, w)
            if callback is not None:
                callback(step.i, losses[step.i])
    return replace(pivotal, method="global-null-text", w=config.w, emb_null=[adam.tuned()] * num_steps,
                   losses=losses, seconds=time.perf_counter() - start,
                   settings={"w_invert": 1.0, "num_epochs": num_epochs, "lr": lr})


# -- the machinery kept out of the algorithm's way ----------------------------------------------------------

class PerImageAdam:
    """Adam on one null embedding per image, each image stopping on its own (the early stop of Algorithm 1).

    A batch is tuned as runs of its own would tune each image: one leaf per image, and the per-image losses
    are summed, so each embedding gets its own image's gradient. The leaves are float32 (float64 for a
    float64 model) whatever dtype the UNet computes in, and so are Adam's moments.
    """

    def __init__(self, emb_null: torch.Tensor, lr: float, loss_scale: float = 1.0):
        self.params = [e.detach().clone().unsqueeze(0).requires_grad_(True) for e in emb_null]  # B x (1, L, D)
        self.optimizer = torch.optim.Adam(self.params, lr=lr)
        self.active = list(range(len(self.params)))  # the indices of the images still being tuned
        self.loss_scale = loss_scale

    def embeddings(self) -> torch.Tensor:
        """The active images' embeddings, differentiable: (A, L, D)."""
        return torch.cat([self.params[b] for b in self.active])

    def step(self, loss: torch.Tensor) -> list[float]:
        """One Adam update from the active images' losses (A,); returns them (one device sync, as the official
        code's ``loss.item()``). Images without a gradient are skipped by Adam."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.loss_scale == 1:
            loss.sum().backward()
        else:  # float16: scale the loss up so its gradients stay in range, then the gradients back down
            (loss.sum() * self.loss_scale).backward()
            for p in self.params:
                if p.grad is not None:
                    p.grad.div_(self.loss_scale)
        self.optimizer.step()
        return loss.detach().tolist()

    def stop_below(self, values: list[float], threshold: float | None) -> bool:
        """Stop the images whose loss is under ``threshold`` (None: none); True once every image has stopped."""
        self.active = [b for b, v in zip(self.active, values) if threshold is None or not v < threshold]
        return not self.active

    def tuned(self) -> torch.Tensor:
        """Every image's embedding, detached: (B, L, D)."""
        return torch.cat(self.params).detach()


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """x in float32, or float64 if it is float64: the loss's precision, whatever the UNet computes in."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def loss_scale(model) -> float:
    """The loss scale a model's gradients need: FP16_LOSS_SCALE for a float16 UNet, else 1."""
    return FP16_LOSS_SCALE if model.dtype == torch.float16 else 1.0


def check_finite(values, step: Step, what: str) -> None:
    """Raise a FloatingPointError naming the step when ``values`` (floats or a tensor) hold NaN or inf."""
    finite = torch.isfinite(values).all().item() if torch.is_tensor(values) else all(map(math.isfinite, values))
    if not finite:
        raise FloatingPointError(f"null-text inversion diverged at step {step.i} (t = {step.t}): the {what} holds "
                                 "NaN or inf; check the model's noise prediction and the input latents")


def mean_finite(values: list[float], step: Step) -> float:
    """The mean of a step's per-image losses, or a FloatingPointError naming the step if one is NaN or inf."""
    check_finite(values, step, "pivotal loss")
    return sum(values) / len(values)
