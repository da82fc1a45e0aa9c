"""Turning prompts into token ids, with errors that teach: unknown words and over-long prompts.

Stable Diffusion pads every prompt to the tokenizer's maximum length (77 for CLIP), so the null
prompt "" becomes [start, end, pad, pad, ...] and has an embedding like any other prompt.
"""
from __future__ import annotations

import difflib
from typing import Sequence

import torch


def as_prompt_list(prompts: str | Sequence[str]) -> list[str]:
    """Accept one prompt or a sequence of prompts; raise a ValueError for anything else."""
    if isinstance(prompts, str):
        return [prompts]
    if isinstance(prompts, Sequence) and prompts and all(isinstance(p, str) for p in prompts):
        return list(prompts)
    raise ValueError(f"prompt must be a string or a non-empty list of strings, got {prompts!r}")


def known_words(tokenizer) -> list[str]:
    """The vocabulary of a word-level tokenizer, special tokens left out, sorted."""
    special = set(tokenizer.all_special_tokens)
    return sorted(w for w in tokenizer.get_vocab() if w not in special)


def check_words(tokenizer, prompt: str) -> None:
    """Raise a ValueError naming the first word the tokenizer maps to its unknown token.

    Byte-level tokenizers such as CLIP's never produce the unknown token for ordinary text, so this
    check only bites on word-level tokenizers such as the embedded model's.
    """
    unk = tokenizer.unk_token_id
    if unk is None or unk in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id):
        return
    for word in prompt.split():
        if unk in tokenizer(word, add_special_tokens=False).input_ids:
            vocab = known_words(tokenizer)
            close = difflib.get_close_matches(word.lower(), vocab, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"the word {word!r} is not in this model's vocabulary.{hint} "
                             f"Allowed words: {', '.join(vocab)}")


def tokenize(tokenizer, prompts: str | Sequence[str]) -> torch.Tensor:
    """Token ids padded to the tokenizer's maximum length: (B, L) int64."""
    prompts = as_prompt_list(prompts)
    max_len = tokenizer.model_max_length
    for prompt in prompts:
        check_words(tokenizer, prompt)
        n = len(tokenizer(prompt, verbose=False).input_ids)
        if n > max_len:
            raise ValueError(f"the prompt {prompt!r} has {n} tokens (start and end included), "
                             f"but this model's tokenizer allows at most {max_len}; shorten it")
    ids = tokenizer(prompts, padding="max_length", max_length=max_len, truncation=True, return_tensors="pt")
    return ids.input_ids  # (B, L)
