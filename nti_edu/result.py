"""The result every inversion method returns, so that methods can be compared and edited alike."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class InversionResult:
    """What an inversion leaves behind, enough to reconstruct the image and to edit it.

    Reconstruction samples from ``x_T`` with ``emb_cond`` at guidance ``w``, using ``emb_null[i]`` at
    sampling step i (noisiest first) and, when ``corrections`` is set, adding ``corrections[i]`` after
    that step (``nti_edu.reconstruction.reconstruct`` handles both). With ``emb_conds`` set, step i uses
    ``emb_conds[i]`` as its prompt embedding.
    """

    method: str  # "ddim", "null-text", "negative-prompt", ...
    prompts: list[str]  # the source prompt of each image
    num_steps: int
    w: float  # the guidance weight the result is meant to be sampled at
    latents: list[torch.Tensor]  # x*_T .. x*_0, noisiest first: N + 1 of (B, C, h, w); step i ends at [i + 1]
    emb_cond: torch.Tensor  # (B, L, D)
    emb_null: list[torch.Tensor]  # one (B, L, D) per sampling step, noisiest first
    losses: list[list[float]] = field(default_factory=list)  # per step, per inner iteration
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)  # method-specific settings, saved with the result
    # direct inversion (Ju et al. 2024): one (B, C, h, w) per sampling step, added to the latent after
    # that step; None for every other method
    corrections: list[torch.Tensor] | None = None
    # textual inversion (nti_edu.ablations; the paper's sec. 4): one tuned (B, L, D) prompt embedding C_t per
    # sampling step, used in emb_cond's place; emb_cond stays the prompt's own. None for every other method
    emb_conds: list[torch.Tensor] | None = None

    @property
    def x_T(self) -> torch.Tensor:
        return self.latents[0]  # (B, C, h, w)

    @property
    def x_0(self) -> torch.Tensor:
        return self.latents[-1]  # (B, C, h, w)
