"""Words to token positions, and the token alignments between a source and a target prompt.

Hertz et al., "Prompt-to-Prompt Image Editing with Cross Attention Control", ICLR 2023, sec. 3.2:
a word swap maps each token of the target to the source token it replaces; a refinement (words added)
maps the target's old tokens to theirs in the source and lets new tokens keep their own attention.

Both are written as a matrix ``mapper`` (L, L) and a vector ``token_alpha`` (L,): the target's
attention to its token n is sum_w A_source[..., w] * mapper[w, n] where token_alpha[n] = 1, and its
own attention where token_alpha[n] = 0. Words are found by tokenizing each word alone, which works
for any tokenizer that splits prompts at spaces: CLIP's byte-level BPE (several tokens per word) and
the embedded model's word-level tokenizer (one token per word).
"""
from __future__ import annotations

import torch


def word_positions(tokenizer, prompt: str) -> list[list[int]]:
    """The token positions of every word of ``prompt`` (split at spaces) in its padded token sequence."""
    per_word = [tokenizer(word, add_special_tokens=False).input_ids for word in prompt.split()]
    flat = [token for ids in per_word for token in ids]
    full = tokenizer(prompt).input_ids
    offsets = [k for k in (0, 1) if full[k:k + len(flat)] == flat]  # 1 after a start token
    if not offsets:
        raise ValueError(f"this tokenizer does not tokenize {prompt!r} word by word (the prompt's tokens differ "
                         "from its words' tokens joined), so words cannot be mapped to tokens")
    if offsets[-1] + len(flat) >= tokenizer.model_max_length:
        raise ValueError(f"the prompt {prompt!r} is too long for this tokenizer ({tokenizer.model_max_length} tokens)")
    positions, p = [], offsets[-1]
    for ids in per_word:
        positions.append(list(range(p, p + len(ids))))
        p += len(ids)
    return positions


def find_words(tokenizer, prompt: str, words) -> list[int]:
    """Token positions of ``words`` (a string or strings; every occurrence, case ignored) in ``prompt``."""
    wanted = [w for item in ([words] if isinstance(words, str) else words) for w in item.split()]
    prompt_words = [w.lower() for w in prompt.split()]
    positions = word_positions(tokenizer, prompt)
    found = []
    for word in wanted:
        hits = [k for k, pw in enumerate(prompt_words) if pw == word.lower()]
        if not hits:
            raise ValueError(f"the word {word!r} is not in the prompt {prompt!r}; its words are {prompt.split()}")
        found += [p for k in hits for p in positions[k]]
    return found


def _ends(tokenizer, prompt: str) -> tuple[int, int]:
    """(number of start tokens, position right after the last word's last token)."""
    positions = word_positions(tokenizer, prompt)
    start = 1 if tokenizer(prompt).input_ids[:1] == [tokenizer.bos_token_id] else 0
    return start, (positions[-1][-1] + 1 if positions else start)


def _map_start_and_end(mapper, alpha, tokenizer, source: str, target: str) -> None:
    """Start token to start token; the end token and the padding after the last word, in order."""
    L = mapper.shape[0]
    start, s_end = _ends(tokenizer, source)
    _, t_end = _ends(tokenizer, target)
    for p in range(start):
        mapper[p, p], alpha[p] = 1, 1
    for k in range(L - t_end):  # a target position with no source left takes the source's last one
        mapper[min(s_end + k, L - 1), t_end + k], alpha[t_end + k] = 1, 1


def swap_mapper(tokenizer, source: str, target: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Word swap: word k of the target takes the attention of word k of the source.

    Returns (mapper (L, L), token_alpha (L,) of ones). Words with equal token counts map token to
    token; otherwise each target token gets the source word's attention divided by its token count
    (as in the official code). Raises a ValueError when the word counts differ.
    """
    src_words, tgt_words = source.split(), target.split()
    if len(src_words) != len(tgt_words):
        raise ValueError(f"a word swap needs prompts with the same number of words, got {len(src_words)} in "
                         f"{source!r} and {len(tgt_words)} in {target!r}; use Refine to add or remove words")
    L = tokenizer.model_max_length
    mapper, alpha = torch.zeros(L, L), torch.zeros(L)
    _map_start_and_end(mapper, alpha, tokenizer, source, target)
    for src, tgt in zip(word_positions(tokenizer, source), word_positions(tokenizer, target)):
        map_word(mapper, src, tgt)
        alpha[tgt] = 1
    return mapper, alpha


def map_word(mapper: torch.Tensor, src: list[int], tgt: list[int]) -> None:
    """Map one source word's token positions to one target word's: token to token when the counts
    agree, else every target token gets the sum of the source tokens' attention over its token count."""
    if len(src) == len(tgt):
        mapper[src, tgt] = 1
    else:
        for p in tgt:
            mapper[src, p] = 1 / len(tgt)


def common_words(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """The longest common subsequence of two word lists, as index pairs (i in a, j in b), in order."""
    n, m = len(a), len(b)
    best = [[0] * (m + 1) for _ in range(n + 1)]  # best[i][j]: LCS length of a[i:] and b[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if a[i] == b[j] else max(best[i + 1][j], best[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def refine_mapper(tokenizer, source: str, target: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Refinement: the target's words that are also in the source (aligned by longest common
    subsequence, the official code's global alignment with no gap cost) take the source's attention;
    new words keep their own (token_alpha 0). Returns (mapper (L, L), token_alpha (L,)).
    """
    src_words, tgt_words = source.lower().split(), target.lower().split()
    src_pos, tgt_pos = word_positions(tokenizer, source), word_positions(tokenizer, target)
    L = tokenizer.model_max_length
    mapper, alpha = torch.zeros(L, L), torch.zeros(L)
    _map_start_and_end(mapper, alpha, tokenizer, source, target)
    for i, j in common_words(src_words, tgt_words):
        map_word(mapper, src_pos[i], tgt_pos[j])  # the same word, so token to token
        alpha[tgt_pos[j]] = 1
    return mapper, alpha
