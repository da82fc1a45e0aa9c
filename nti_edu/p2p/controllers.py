"""Attention controllers: Hertz et al., "Prompt-to-Prompt Image Editing with Cross Attention Control",
ICLR 2023, sec. 3.2 (word swap, refinement, re-weighting) and the official code's local blend.

The editing loop (``nti_edu.editing``) runs the source and the target prompt as a batch of 2 and
guidance doubles it, so inside the UNet the batch is [null source, null target, cond source, cond
target]. A controller sees every attention layer's probabilities, (4 * heads, P, K) for P pixels and K
keys, and replaces only the target's conditional branch: the source branch and both null branches are
left as they are, as in the official code. Per step, the loop calls ``begin_step(i)``, the UNet (which
calls the controller once per attention layer) and ``end_step(x_t)`` (local blend).
"""
from __future__ import annotations

import torch

from .blend import LocalBlend
from .words import find_words, refine_mapper, swap_mapper


class AttentionControl:
    """The do-nothing controller: the base of the others. ``bind`` receives the latent shape (C, h, w)."""

    def __init__(self):
        self.step, self.latent_shape = 0, None

    def bind(self, latent_shape) -> None:
        self.latent_shape = tuple(latent_shape)

    def begin_step(self, step: int) -> None:
        self.step = step

    def reads(self, *, is_cross: bool, pixels: int) -> bool:
        """Does ``__call__`` need this layer's probabilities? (A layer it does not read runs fused.)"""
        return True

    def __call__(self, probs: torch.Tensor, *, is_cross: bool, name: str, heads: int) -> torch.Tensor:
        return probs  # (n * heads, P, K)

    def end_step(self, x_t: torch.Tensor) -> torch.Tensor:
        return x_t  # (n, C, h, w)


class AttentionStore(AttentionControl):
    """Accumulates each cross-attention layer's maps of the conditional branch, averaged over heads.

    ``branches`` is the number of guidance branches in the UNet batch: 2 ([null..., cond...]) or 1.
    """

    def __init__(self, branches: int = 2):
        super().__init__()
        if branches not in (1, 2):
            raise ValueError(f"branches must be 1 (conditional only) or 2 (null and conditional), got {branches!r}")
        self.branches, self.sums, self.counts = branches, {}, {}

    def bind(self, latent_shape) -> None:
        super().bind(latent_shape)
        self.sums, self.counts = {}, {}  # a fresh store for every run

    def reads(self, *, is_cross, pixels):
        return is_cross  # the cross-attention maps only

    def __call__(self, probs, *, is_cross, name, heads):
        if is_cross:
            self.store(probs, name, heads)
        return probs

    def store(self, probs, name: str, heads: int) -> None:
        n = probs.shape[0] // heads
        cond = probs.view(n, heads, *probs.shape[1:])[n - n // self.branches:]  # (prompts, heads, P, K)
        self.sums[name] = self.sums.get(name, 0) + cond.float().mean(1)  # (prompts, P, K)
        self.counts[name] = self.counts.get(name, 0) + 1

    def sides(self) -> list[int]:
        """The sides (in latent pixels) of the stored maps, coarsest first."""
        return sorted({round(m.shape[1] ** 0.5) for m in self.sums.values()})

    def cross_attention(self, side: int) -> torch.Tensor:
        """The mean cross-attention map over the layers of side x side pixels and the calls so far:
        (prompts, side, side, K)."""
        maps = [s / self.counts[k] for k, s in self.sums.items() if s.shape[1] == side * side]
        if not maps:
            raise ValueError(f"no cross-attention maps of side {side} were stored; stored sides: {self.sides()}")
        mean = torch.stack(maps).mean(0)  # (prompts, P, K)
        return mean.view(mean.shape[0], side, side, mean.shape[-1])


def step_window(fraction, num_steps: int, name: str) -> tuple[int, int]:
    """(first, end) step of an injection window given as a fraction f (the window [0, f)) or (start, end)."""
    bounds = (0.0, fraction) if isinstance(fraction, (int, float)) else tuple(fraction)
    if len(bounds) != 2 or not 0 <= bounds[0] <= bounds[1] <= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1] or a pair (start, end) with 0 <= start <= end <= 1, "
                         f"got {fraction!r}")
    return int(bounds[0] * num_steps), int(bounds[1] * num_steps)


def cross_replace_alpha(tokenizer, target: str, num_steps: int, cross_replace_steps) -> torch.Tensor:
    """Which target tokens take the source's cross-attention at which step: (num_steps + 1, L) of 0/1.

    ``cross_replace_steps``: a fraction, a (start, end) pair, or a dict of them per target word with an
    optional "default_" for the other tokens (default (0, 1)). As in the official code, fractions are
    of num_steps + 1.
    """
    windows = dict(cross_replace_steps) if isinstance(cross_replace_steps, dict) else {"default_": cross_replace_steps}
    alpha = torch.zeros(num_steps + 1, tokenizer.model_max_length)
    first, end = step_window(windows.pop("default_", (0.0, 1.0)), num_steps + 1, "cross_replace_steps")
    alpha[first:end] = 1
    for word, fraction in windows.items():
        positions = find_words(tokenizer, target, word)
        first, end = step_window(fraction, num_steps + 1, f"cross_replace_steps[{word!r}]")
        alpha[:, positions] = 0
        alpha[first:end, positions] = 1
    return alpha


class AttentionEdit(AttentionStore):
    """Injects the source's attention into the target's conditional branch (sec. 3.2).

    Cross-attention: target := (source mapped by ``mapper`` where ``token_alpha`` = 1, the target's own
    where 0) times ``weights`` (re-weighting), during the ``cross_replace_steps`` window. Self-attention:
    target := source during the ``self_replace_steps`` window, in layers of at most a quarter of the
    latent's pixels (the official code: 32 x 32 of SD's 64 x 64). ``local_blend`` (a LocalBlend)
    restricts the change to where the chosen words are. The cross-attention maps are stored (for the local
    blend's mask) as the UNet uses them, after the injection: the official ``AttentionControlEdit.forward``
    hands the tensor to its ``AttentionStore`` and then overwrites the target's rows of that same tensor.
    """

    def __init__(self, tokenizer, source: str, target: str, num_steps: int, mapper, token_alpha, *,
                 cross_replace_steps=0.8, self_replace_steps=0.4, weights: dict | None = None,
                 local_blend: LocalBlend | None = None):
        super().__init__(branches=2)
        self.source, self.target, self.num_steps = source, target, num_steps
        self.mapper, self.token_alpha = mapper, token_alpha  # (L, L), (L,)
        self.cross_alpha = cross_replace_alpha(tokenizer, target, num_steps, cross_replace_steps)  # (N+1, L)
        self.self_window = step_window(self_replace_steps, num_steps, "self_replace_steps")
        self.equalizer = equalizer(tokenizer, target, weights or {})  # (L,)
        self.local_blend = local_blend
        if local_blend is not None:
            local_blend.bind_words(tokenizer, source, target, num_steps)

    def check_edit(self, source: str, target: str, num_steps: int) -> None:
        """Raise a ValueError unless this controller was made for this source, target and step count."""
        if (source, target, num_steps) != (self.source, self.target, self.num_steps):
            raise ValueError(f"this controller was made for {self.source!r} -> {self.target!r} with {self.num_steps} "
                             f"steps, not for {source!r} -> {target!r} with {num_steps} steps; make a new one")

    def reads(self, *, is_cross, pixels):
        return is_cross or pixels <= self.coarse_pixels()  # self-attention is injected in coarse layers only

    def coarse_pixels(self) -> int:
        """The most pixels a layer may have for its self-attention to be injected: a quarter of the latent's."""
        h, w = self.latent_shape[1:]
        return h * w // 4

    def __call__(self, probs, *, is_cross, name, heads):
        n = probs.shape[0] // heads
        if n != 4:
            raise ValueError(f"an attention edit needs the UNet batch [null source, null target, cond source, "
                             f"cond target], got {n} images; run it through nti_edu.editing.edit")
        base, target = probs.view(4, heads, *probs.shape[1:])[2:]  # 2 x (heads, P, K)
        new = self.edit_cross(base, target) if is_cross else self.edit_self(base, target)
        if new is not target:
            out = probs.view(4, heads, *probs.shape[1:]).clone()  # (4, heads, P, K)
            out[3] = new
            probs = out.view_as(probs)
        if is_cross:  # after the injection, as in the official code, whose store keeps the tensor it then edits in
            self.store(probs, name, heads)  # place: in the window, a swapped word's map is the source word's
        return probs

    def edit_cross(self, base, target):
        """Cross-attention of the target, (heads, P, L), at the current step."""
        alpha = self.cross_alpha[self.step]  # (L,), on the CPU: checking it costs no device sync
        if not alpha.any():
            return target
        alpha = alpha.to(target)
        mapped = torch.einsum("hpw,wn->hpn", base, self.mapper.to(base))  # (heads, P, L)
        token_alpha = self.token_alpha.to(base)
        replaced = (mapped * token_alpha + target * (1 - token_alpha)) * self.equalizer.to(base)
        return replaced * alpha + target * (1 - alpha)

    def edit_self(self, base, target):
        """Self-attention of the target, (heads, P, P): the source's inside the window, in coarse layers."""
        first, end = self.self_window
        if first <= self.step < end and base.shape[1] <= self.coarse_pixels():
            return base
        return target

    def end_step(self, x_t):
        return x_t if self.local_blend is None else self.local_blend(x_t, self, self.step)


def equalizer(tokenizer, prompt: str, weights: dict) -> torch.Tensor:
    """Re-weighting (sec. 3.2): a factor per token of ``prompt``, 1 except for the words in ``weights``."""
    scale = torch.ones(tokenizer.model_max_length)  # (L,)
    for word, value in weights.items():
        scale[find_words(tokenizer, prompt, word)] = float(value)
    return scale


class WordSwap(AttentionEdit):
    """Word swap ("a cat" -> "a dog"): prompts with the same number of words; the target's words take
    the source's cross-attention maps, so the layout stays and the content changes."""

    def __init__(self, tokenizer, source: str, target: str, num_steps: int, **options):
        mapper, token_alpha = swap_mapper(tokenizer, source, target)
        super().__init__(tokenizer, source, target, num_steps, mapper, token_alpha, **options)


class Refine(AttentionEdit):
    """Refinement ("a cat" -> "a fluffy cat"): words added or removed; the words both prompts share take
    the source's cross-attention, new words keep their own."""

    def __init__(self, tokenizer, source: str, target: str, num_steps: int, **options):
        mapper, token_alpha = refine_mapper(tokenizer, source, target)
        super().__init__(tokenizer, source, target, num_steps, mapper, token_alpha, **options)


class Reweight(AttentionEdit):
    """Re-weighting of one prompt: scale the cross-attention of chosen words, e.g. {"red": 2.0}.

    To re-weight while changing the prompt, pass ``weights`` to WordSwap or Refine instead.
    """

    def __init__(self, tokenizer, prompt: str, num_steps: int, weights: dict, **options):
        if not weights:
            raise ValueError("Reweight needs weights, e.g. {'red': 2.0}: a factor per word of the prompt")
        L = tokenizer.model_max_length
        super().__init__(tokenizer, prompt, prompt, num_steps, torch.eye(L), torch.ones(L), weights=weights, **options)
