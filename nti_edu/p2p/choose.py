"""Which Prompt-to-Prompt edit a pair of prompts calls for (Hertz et al., ICLR 2023, sec. 3.2).

A *word swap* ("a red circle" -> "a blue circle") replaces words one for one, so both prompts have the
same number of words and the target's attention maps are the source's, token for token. A *prompt
refinement* ("a face" -> "a face with sunglasses") adds or removes words, so only the tokens the two
prompts share take the source's maps. The number of words decides, in this one place.
"""
from __future__ import annotations

from .controllers import Refine, WordSwap

EDIT_KINDS = ("swap", "refine")


def edit_kind(source: str, target: str) -> str:
    """"swap" when the prompts have the same number of words, else "refine"."""
    return "swap" if len(source.split()) == len(target.split()) else "refine"


def changed_words(a: str, b: str) -> list[str]:
    """The words of prompt ``a`` that prompt ``b`` lacks (a local blend's words, e.g. "red" for red -> blue)."""
    return [word for word in a.split() if word not in b.split()]


def prompt_edit(tokenizer, source: str, target: str, num_steps: int, kind: str | None = None, **options):
    """The controller for editing ``source`` into ``target``: a ``WordSwap`` or a ``Refine``, as ``kind`` says
    (default: ``edit_kind``'s choice), with the controllers' keyword ``options`` (cross_replace_steps,
    self_replace_steps, local_blend, weights)."""
    kind = edit_kind(source, target) if kind is None else kind
    if kind not in EDIT_KINDS:
        raise ValueError(f"kind must be one of {EDIT_KINDS} or None, got {kind!r}")
    control = WordSwap if kind == "swap" else Refine
    return control(tokenizer, source, target, num_steps, **options)
