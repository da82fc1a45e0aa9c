"""One inner iteration of null-text inversion that never waits for the device (Algorithm 1, eq. 3).

The readable loop (``nti_edu.null_text``) reads every loss back to the host to decide the early stop,
which makes the host wait for the device once per iteration. Here every value an iteration reads or
writes is a device tensor in a ``StepState`` whose storage never moves, so an iteration can also be
recorded once as a CUDA graph and replayed: the early stop is a per-image flag on the device that masks
Adam's update, and the host reads "has every image stopped?" at most once per iteration, one
iteration late on CUDA (``StopFlag``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..ddim import ddim_step
from ..guidance import guided_eps
from ..null_text import at_least_float32
from .adam import AdamState, masked_adam_step


@dataclass
class StepState:
    """Everything one inner iteration reads and writes, as device tensors whose storage stays put."""

    x_t: torch.Tensor  # (B, C, h, w) current latent, the latents' dtype
    t: torch.Tensor  # (B,) int64 timestep
    eps_cond: torch.Tensor  # (B, C, h, w) conditional prediction, work dtype
    pivot_prev: torch.Tensor  # (B, C, h, w) the pivot x*_{t-1}, work dtype
    alpha_bar_t: torch.Tensor  # () float32, as the schedule holds it
    alpha_bar_prev: torch.Tensor  # () float32
    threshold: torch.Tensor  # () float64 early-stop threshold; -inf never stops
    emb_null: torch.Tensor  # (B, L, D) the null embeddings being tuned: the float32 master copy
    adam: AdamState
    active: torch.Tensor  # (B,) bool, images still being tuned
    loss: torch.Tensor  # (B,) written: each image's pivotal loss before this iteration's update
    was_active: torch.Tensor  # (B,) bool, written: which images this iteration tuned

    @classmethod
    def allocate(cls, x_t: torch.Tensor, emb_null: torch.Tensor, work_dtype: torch.dtype) -> "StepState":
        """Buffers for a batch shaped like x_t (B, C, h, w), starting from emb_null (B, L, D)."""
        B, device = x_t.shape[0], x_t.device
        work = torch.zeros(x_t.shape, dtype=work_dtype, device=device)  # (B, C, h, w)
        alpha = torch.zeros((), device=device)  # float32, as the schedule's alpha_bar
        emb = emb_null.to(work_dtype, copy=True)  # (B, L, D)
        flags = torch.ones(B, dtype=torch.bool, device=device)  # (B,)
        return cls(x_t=x_t.clone(), t=torch.zeros(B, dtype=torch.long, device=device), eps_cond=work,
                   pivot_prev=work.clone(), alpha_bar_t=alpha, alpha_bar_prev=alpha.clone(),
                   threshold=torch.zeros((), dtype=torch.float64, device=device), emb_null=emb,
                   adam=AdamState.like(emb), active=flags, loss=torch.zeros(B, dtype=work_dtype, device=device),
                   was_active=flags.clone())

    def load(self, x_t, t: int, eps_cond, pivot_prev, alpha_bar_t: float, alpha_bar_prev: float, threshold: float):
        """Copy one sampling step's inputs in place and restart Adam; the null embedding carries over.

        Scalars are filled from Python numbers, which never makes the host wait for the device.
        """
        self.x_t.copy_(x_t)
        self.t.fill_(t)
        self.eps_cond.copy_(eps_cond)
        self.pivot_prev.copy_(pivot_prev)
        for scalar, value in ((self.alpha_bar_t, alpha_bar_t), (self.alpha_bar_prev, alpha_bar_prev),
                              (self.threshold, threshold)):
            scalar.fill_(value)
        self.adam.reset()
        self.active.fill_(True)

    def mutable(self) -> list[torch.Tensor]:
        """The tensors an iteration changes (warm-up runs before a graph capture must be undone)."""
        return [self.emb_null, self.adam.m, self.adam.v, self.active, self.loss, self.was_active]


def inner_iteration(state: StepState, eps_null_fn, w: float, loss_scale: float = 1.0) -> None:
    """One Adam iteration on the pivotal loss (eq. 3) for every image still active; no host sync.

    ``eps_null_fn(emb)`` maps the (B, L, D) null embedding to eps_theta(x_t, t, emb) (B, C, h, w) in the
    work dtype, with the gradient. The early stop of Algorithm 1 is applied after the update, as the
    official code does: an image whose loss fell under the threshold keeps that last update.
    """
    # 1. the pivotal loss of every image, from the master copy of the null embedding
    emb = state.emb_null.detach().requires_grad_(True)  # (B, L, D) leaf
    eps_pred = guided_eps(eps_null_fn(emb), state.eps_cond, w)  # (B, C, h, w)
    x_prev = ddim_step(state.x_t.to(eps_pred.dtype), eps_pred, state.alpha_bar_t, state.alpha_bar_prev)
    loss = (at_least_float32(x_prev) - at_least_float32(state.pivot_prev)).pow(2).flatten(1).mean(1)  # (B,)
    # 2. each image's gradient (the sum keeps the images independent); scaled for float16
    (grad,) = torch.autograd.grad(loss.sum() * loss_scale if loss_scale != 1 else loss.sum(), emb)
    grad = grad / loss_scale if loss_scale != 1 else grad  # (B, L, D)
    # 3. Adam, for the active images only
    masked_adam_step(state.emb_null, grad, state.adam, state.active)
    # 4. bookkeeping on the device: the loss, and the early stop (an image stops once loss < threshold)
    loss = loss.detach()
    state.loss.copy_(loss)
    state.was_active.copy_(state.active)
    state.active.logical_and_(~(loss.double() < state.threshold))  # compared exactly, as in Python


class StopFlag:
    """Has every image stopped? On CUDA the host reads the answer one iteration late, from pinned
    memory, so it never waits for the device to finish the iteration it just queued. The extra
    iteration this may run changes nothing: its update is masked out for every image."""

    def __init__(self, device: torch.device):
        self.lag = 1 if device.type == "cuda" else 0
        self.pending: list = []

    def reset(self) -> None:
        self.pending.clear()

    def all_stopped(self, active: torch.Tensor) -> bool:
        """Queue a read of ``active.any()``; return whether the read from ``lag`` iterations ago says none."""
        if self.lag == 0:
            return not bool(active.any())
        host = torch.empty((), dtype=torch.bool, pin_memory=True)
        host.copy_(active.any(), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.pending.append((host, event))
        if len(self.pending) <= self.lag:
            return False
        host, event = self.pending.pop(0)
        event.synchronize()
        return not bool(host)
