"""Local blend: Hertz et al. 2023, as the official Prompt-to-Prompt code's ``LocalBlend`` does it.

After each sampling step from ``start`` on, keep the target's latent only where the chosen words'
cross-attention is high and copy the source's latent elsewhere:

    mask = (normalised, max-pooled mean cross-attention of the words > threshold), source's OR target's
    x_target := x_source + mask * (x_target - x_source)

Normalised means scaled to [0, 1] by its minimum and maximum over the image. The official code divides
by the maximum only, which is the same where a word's map falls to about 0 away from its object, as
on Stable Diffusion; a small model's maps keep a floor (on the embedded model a third of the peak,
as the softmax spreads over few tokens), which a threshold of 0.3 on max-only maps lets through as
a mask of the whole image.

The maps are the conditional branch's, averaged over heads, the layers of one resolution and the
steps so far. The resolution is, by default, the stored side nearest a quarter of the latent's
(16 for SD's 64 x 64 latents, the official code's choice) among those of at least MIN_SIDE: on coarser maps
the 3 x 3 max-pool spreads every word over the whole latent, a mask of ones, and so no blend at all
(the embedded model's 16 x 16 latents have maps of 8 x 8 and 4 x 4: it gets 8 x 8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .words import find_words

MIN_SIDE = 8  # the coarsest maps a 3 x 3 max-pool leaves a region on


class LocalBlend:
    """Restrict an edit to the region of ``source_words`` (in the source) and ``target_words`` (in the target)."""

    def __init__(self, source_words, target_words, *, threshold: float = 0.3, start: float = 0.2,
                 resolution: int | None = None):
        if not 0 <= threshold < 1 or not 0 <= start <= 1:
            raise ValueError(f"threshold must be in [0, 1) and start in [0, 1], got {threshold!r} and {start!r}")
        self.source_words, self.target_words = source_words, target_words
        self.threshold, self.start, self.resolution = threshold, start, resolution
        self.word_alpha, self.start_step = None, 0

    def bind_words(self, tokenizer, source: str, target: str, num_steps: int) -> None:
        """Find the words' token positions; called by the controller that holds this blend."""
        alpha = torch.zeros(2, tokenizer.model_max_length)  # (2, L): source row, target row
        alpha[0, find_words(tokenizer, source, self.source_words)] = 1
        alpha[1, find_words(tokenizer, target, self.target_words)] = 1
        self.word_alpha, self.start_step = alpha, int(self.start * num_steps)

    def side(self, store, latent_side: int) -> int:
        """The side of the maps to use: ``resolution``, else of the stored sides of at least MIN_SIDE (or
        the finest, if none is) the one nearest latent_side / 4, the finer of two equally near."""
        if self.resolution is not None:
            return self.resolution
        sides = [s for s in store.sides() if s >= MIN_SIDE] or [max(store.sides())]
        return min(sides, key=lambda s: (abs(s - latent_side // 4), -s))

    def mask(self, store, size: tuple[int, int]) -> torch.Tensor:
        """The blend mask, (2, 1, h, w) of 0/1: row 0 the source's region, row 1 the union of both."""
        maps = store.cross_attention(self.side(store, size[0]))  # (2, s, s, L)
        maps = (maps * self.word_alpha.to(maps)[:, None, None, :]).sum(-1)[:, None]  # (2, 1, s, s)
        maps = F.max_pool2d(maps, 3, stride=1, padding=1)  # (2, 1, s, s)
        maps = F.interpolate(maps, size=size)  # (2, 1, h, w), nearest
        low = maps.amin(dim=(2, 3), keepdim=True)  # (2, 1, 1, 1): the map's floor, ~0 on SD
        maps = (maps - low) / (maps.amax(dim=(2, 3), keepdim=True) - low).clamp_min(1e-12)  # (2, 1, h, w) in [0, 1]
        inside = maps > self.threshold  # (2, 1, h, w)
        return (inside[:1] | inside).float()

    def __call__(self, x_t: torch.Tensor, store, step: int) -> torch.Tensor:
        """Blend x_t (2, C, h, w) = [source, target] after sampling step ``step``; the source is unchanged."""
        if step < self.start_step:
            return x_t
        mask = self.mask(store, tuple(x_t.shape[-2:])).to(x_t)  # (2, 1, h, w)
        return x_t[:1] + mask * (x_t - x_t[:1])  # (2, C, h, w)
