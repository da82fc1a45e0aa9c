"""A word-level tokenizer for the world's prompts, in the same form as Stable Diffusion's CLIP tokenizer.

Each word of the vocabulary is one token; the prompt is wrapped in start and end tokens and padded
to ``MODEL_MAX_LENGTH`` = 16: the longest prompt has 13 words, 15 tokens with start and end.
Unknown words become "<|unk|>", which ``nti_edu.models.prompts`` turns into an error that names
the closest known word. The world's prompts say "a" before every colour ("a orange face"); the
normalizer reads the article "an" as "a", so "an orange face" gives the same tokens. Built with the
``tokenizers`` library, wrapped as a transformers fast tokenizer, so ``AutoTokenizer.from_pretrained(folder)``
loads a saved copy, in transformers 4 and 5 alike.

``grown=True`` (issue 37) appends the words of the animals and the painting style after today's, so
every id the shipped model knows stays where it is and its text encoder only needs new rows.
"""
from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

from .parse import ALIASES, vocabulary

PAD, UNK, BOS, EOS = "<|pad|>", "<|unk|>", "<|startoftext|>", "<|endoftext|>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)  # ids 0, 1, 2, 3; the world's words follow, sorted
MODEL_MAX_LENGTH = 16


def _word_level(grown: bool = False) -> Tokenizer:
    vocab = {token: i for i, token in enumerate(list(SPECIAL_TOKENS) + vocabulary(grown))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    aliases = [normalizers.Replace(Regex(rf"\b{word}\b"), known) for word, known in ALIASES.items()]
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), *aliases])  # "An" -> "an" -> "a"
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", pair=f"{BOS} $A {EOS} $B {EOS}",
        special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])])
    return tok


def build_tokenizer(grown: bool = False):
    """The world's tokenizer as a ``transformers.PreTrainedTokenizerFast``; ``grown``: with issue 37's words."""
    from transformers import PreTrainedTokenizerFast  # imported here: transformers takes a second to import

    return PreTrainedTokenizerFast(
        tokenizer_object=_word_level(grown), bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        model_max_length=MODEL_MAX_LENGTH, padding_side="right")


def save_tokenizer(folder: str | Path, tokenizer=None) -> Path:
    """Write ``tokenizer`` (the world's when None) to ``folder`` (created if needed) with ``save_pretrained``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (tokenizer or build_tokenizer()).save_pretrained(folder)
    # transformers 5 writes its own class name, "TokenizersBackend", which transformers 4 cannot load;
    # the older name loads in transformers 4 and 5 alike
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    # a tokenizer that has encoded with padding keeps that call's truncation and padding in its backend, and
    # save_pretrained writes them; every call sets its own, so the file holds none: the same bytes, used or not
    backend_file = folder / "tokenizer.json"
    backend = json.loads(backend_file.read_text())
    if backend["truncation"] is not None or backend["padding"] is not None:
        backend["truncation"] = backend["padding"] = None
        backend_file.write_text(json.dumps(backend, indent=2, ensure_ascii=False))  # as the tokenizers library writes
    return folder
