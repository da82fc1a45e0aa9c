"""Local blend: Hertz et al. 2023, as the official Prompt-to-Prompt code's ``LocalBlend`` does it.

After each sampling step from ``start`` on, keep the target's latent only where the chosen words'
cross-attention is high and copy the source's latent elsewhere:

    mask = (max-pooled mean cross-attention of the words / its maximum > threshold), source's OR target's
    x_target := x_source + mask * (x_target - x_source)

With ``subtract_words`` (the official code's ``substruct_words``), the region of other words is taken
out of the mask: maps of those words, not max-pooled, above ``subtract_threshold`` in either prompt.
A background edit blends on "background" minus the object's word, so the object stays the source's.

``scale="max"`` (the default) divides each map by its maximum, as the official ``get_mask`` does.
``scale="range"`` is ours: it scales by the minimum and the maximum, which differs where a word's map
keeps a floor away from its object (a small model's softmax over few tokens);
benchmarks/README.md has the measurements of both.

The maps are the conditional branch's as the UNet used them (the target's after the injection of the
source's maps, as the official code's store sees them), averaged over heads, the layers of one resolution
and the steps so far. The resolution is, by default, the stored side nearest a quarter of the latent's
(16 for SD's 64 x 64 latents, the official code's choice) among those of at least MIN_SIDE: on coarser maps
the 3 x 3 max-pool spreads every word over the whole latent, a mask of ones, and so no blend at all
(the embedded model's 16 x 16 latents have maps of 8 x 8 and 4 x 4: it gets 8 x 8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .words import find_words

MIN_SIDE = 8  # the coarsest maps a 3 x 3 max-pool leaves a region on
SCALES = ("max", "range")  # divide by the maximum (the official code); by the range, minimum to maximum (ours)


class LocalBlend:
    """Restrict an edit to the region of ``source_words`` (in the source) and ``target_words`` (in the target)."""

    def __init__(self, source_words, target_words, *, threshold: float = 0.3, start: float = 0.2,
                 resolution: int | None = None, subtract_words=None, subtract_threshold: float = 0.3,
                 scale: str = "max"):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        if not 0 <= threshold < 1 or not 0 <= subtract_threshold < 1 or not 0 <= start <= 1:
            raise ValueError("threshold and subtract_threshold must be in [0, 1) and start in [0, 1], got "
                             f"{threshold!r}, {subtract_threshold!r} and {start!r}")
        if subtract_words is not None and (isinstance(subtract_words, str) or len(subtract_words) != 2):
            raise ValueError("subtract_words is a pair (words of the source, words of the target), e.g. "
                             f"(['circle'], ['circle']); got {subtract_words!r}")
        self.source_words, self.target_words, self.subtract_words = source_words, target_words, subtract_words
        self.threshold, self.subtract_threshold = threshold, subtract_threshold
        self.start, self.resolution, self.scale = start, resolution, scale
        self.word_alpha, self.subtract_alpha, self.start_step = None, None, 0

    def bind_words(self, tokenizer, source: str, target: str, num_steps: int) -> None:
        """Find the words' token positions; called by the controller that holds this blend."""
        self.word_alpha = word_rows(tokenizer, (source, target), (self.source_words, self.target_words))  # (2, L)
        if self.subtract_words is not None:
            self.subtract_alpha = word_rows(tokenizer, (source, target), self.subtract_words)  # (2, L)
        self.start_step = int(self.start * num_steps)

    def side(self, store, latent_side: int) -> int:
        """The side of the maps to use: ``resolution``, else ``map_side``'s."""
        return map_side(store, latent_side) if self.resolution is None else self.resolution

    def mask(self, store, size: tuple[int, int]) -> torch.Tensor:
        """The blend mask, (2, 1, h, w) of 0/1: row 0 the source's region, row 1 the union of both (less the
        union of the subtracted words' regions)."""
        maps = store.cross_attention(self.side(store, size[0]))  # (2, s, s, L)
        inside = region(maps, self.word_alpha, size, self.threshold, pool=True, scale=self.scale)  # (2, 1, h, w)
        if self.subtract_alpha is not None:
            inside = inside & ~region(maps, self.subtract_alpha, size, self.subtract_threshold, pool=False,
                                      scale=self.scale)
        return inside.float()

    def __call__(self, x_t: torch.Tensor, store, step: int) -> torch.Tensor:
        """Blend x_t (2, C, h, w) = [source, target] after sampling step ``step``; the source is unchanged."""
        if step < self.start_step:
            return x_t
        mask = self.mask(store, tuple(x_t.shape[-2:])).to(x_t)  # (2, 1, h, w)
        return x_t[:1] + mask * (x_t - x_t[:1])  # (2, C, h, w)


def map_side(store, latent_side: int) -> int:
    """Of the stored sides of at least MIN_SIDE (or the finest, if none is), the one nearest latent_side / 4,
    the finer of two equally near."""
    sides = [s for s in store.sides() if s >= MIN_SIDE] or [max(store.sides())]
    return min(sides, key=lambda s: (abs(s - latent_side // 4), -s))


def word_rows(tokenizer, prompts: tuple[str, str], words: tuple) -> torch.Tensor:
    """(2, L) of 0/1: row k marks the token positions of ``words[k]`` in ``prompts[k]``."""
    alpha = torch.zeros(2, tokenizer.model_max_length)  # (2, L): source row, target row
    for k in range(2):
        alpha[k, find_words(tokenizer, prompts[k], words[k])] = 1
    return alpha


def region(maps: torch.Tensor, alpha: torch.Tensor, size: tuple[int, int], threshold: float,
           pool: bool, scale: str = "max") -> torch.Tensor:
    """Where the words of ``alpha`` (2, L) attend, from maps (2, s, s, L): (2, 1, h, w) bool, row 0 the
    source's region, row 1 the union of the source's and the target's (the official ``get_mask``)."""
    maps = words_map(maps, alpha)  # (2, 1, s, s)
    if pool:
        maps = F.max_pool2d(maps, 3, stride=1, padding=1)  # (2, 1, s, s)
    maps = F.interpolate(maps, size=size)  # (2, 1, h, w), nearest
    maps = by_max(maps) if scale == "max" else by_range(maps)  # in [0, 1]
    inside = maps > threshold  # (2, 1, h, w)
    return inside[:1] | inside


def words_map(maps: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The summed maps (n, s, s, L) of the tokens marked in alpha (n, L), one row per prompt: (n, 1, s, s)."""
    return (maps * alpha.to(maps)[:, None, None, :]).sum(-1)[:, None]  # (n, 1, s, s)


def by_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map of (n, 1, h, w) divided by its maximum, as the official ``LocalBlend.get_mask``."""
    return maps / maps.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)  # (n, 1, h, w)


def by_range(maps: torch.Tensor) -> torch.Tensor:
    """Each map of (n, 1, h, w) scaled to [0, 1] by its minimum (its floor, ~0 on SD) and maximum."""
    low = maps.amin(dim=(2, 3), keepdim=True)  # (n, 1, 1, 1)
    return (maps - low) / (maps.amax(dim=(2, 3), keepdim=True) - low).clamp_min(1e-12)  # (n, 1, h, w)
