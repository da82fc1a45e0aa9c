"""A model whose target prompt's embedding is spliced from two prompts': which tokens carry an edit.

benchmarks/background_swap.py asks which positions of CLIP's causal text embedding carry a background: the
words (up to the last word), the end token, or the padding after it, which see the whole prompt.
"""
from __future__ import annotations

from ..p2p import word_positions


class SplicedTarget:
    """The model, except that ``encode_prompt(target)`` gives the target's embedding at the positions of
    ``parts`` and the source's elsewhere."""

    def __init__(self, model, source: str, target: str, parts: tuple[str, ...]):
        self.model, self.source, self.target, self.parts = model, source, target, parts

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode_prompt(self, prompts):
        emb = self.model.encode_prompt(prompts)  # (B, L, D)
        if prompts != self.target:
            return emb
        end = word_positions(self.model.tokenizer, self.target)[-1][-1] + 1  # the end token's position
        groups = {"words": slice(0, end), "end": slice(end, end + 1), "padding": slice(end + 1, None)}
        spliced = self.model.encode_prompt(self.source).clone()  # (1, L, D)
        for part in self.parts:
            spliced[:, groups[part]] = emb[:, groups[part]]
        return spliced
