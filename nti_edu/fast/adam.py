"""Adam written out on plain tensors, so that one inner iteration can be captured as a CUDA graph.

Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1, computed in the
same order as ``torch.optim.Adam`` (defaults: betas (0.9, 0.999), eps 1e-8, no weight decay). Two
changes make it graph-friendly and batch-friendly:

- the step size and the bias correction are 0-d device tensors that the host refills before each
  iteration (a kernel launch, never a sync), instead of Python numbers baked into the kernels;
- the update is applied only to the images whose ``active`` flag is set, so that each image stops on
  its own (the early stop of Algorithm 1) while the batch keeps one static shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, as the official code uses them


@dataclass
class AdamState:
    """Adam's moments for a (B, L, D) parameter, and this iteration's step size and bias correction."""

    m: torch.Tensor  # (B, L, D) first moment, float32
    v: torch.Tensor  # (B, L, D) second moment, float32
    step_size: torch.Tensor  # () lr / (1 - beta1^k)
    bias2_sqrt: torch.Tensor  # () sqrt(1 - beta2^k)

    @classmethod
    def like(cls, param: torch.Tensor) -> "AdamState":
        scalar = torch.ones((), dtype=param.dtype, device=param.device)
        return cls(torch.zeros_like(param), torch.zeros_like(param), scalar.clone(), scalar.clone())

    def reset(self) -> None:
        """Forget the moments: a fresh optimiser, as Algorithm 1 starts one at every sampling step."""
        self.m.zero_()
        self.v.zero_()

    def set_step(self, k: int, lr: float) -> None:
        """Prepare iteration k (1-based) at learning rate lr: fills two device scalars, no sync."""
        self.step_size.fill_(lr / (1 - BETA1**k))
        self.bias2_sqrt.fill_((1 - BETA2**k) ** 0.5)


def masked_adam_step(param: torch.Tensor, grad: torch.Tensor, state: AdamState, active: torch.Tensor) -> None:
    """One Adam update of ``param`` (B, L, D) in place, only where ``active`` (B,) is True.

    The moments of inactive images are updated too but never used again: once an image stops, it
    stays stopped until ``reset`` (the next sampling step).
    """
    # 1. the moment estimates (Algorithm 1: m_k, v_k)
    state.m.lerp_(grad, 1 - BETA1)  # (B, L, D)
    state.v.mul_(BETA2).addcmul_(grad, grad, value=1 - BETA2)  # (B, L, D)
    # 2. the bias-corrected step: lr * m_hat / (sqrt(v_hat) + eps), in torch.optim.Adam's order
    denom = (state.v.sqrt() / state.bias2_sqrt).add_(EPS)  # (B, L, D)
    updated = param - state.step_size * (state.m / denom)  # (B, L, D)
    # 3. keep the stopped images as they are
    param.copy_(torch.where(active.view(-1, 1, 1), updated, param))
