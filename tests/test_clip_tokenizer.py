"""SD 1.x's CLIP tokenizer, built by nti_edu.testing from open_clip's merges, against open_clip's own tokenizer.

open_clip's ``SimpleTokenizer`` is CLIP's reference implementation (Radford et al. 2021); transformers'
``CLIPTokenizer``/``CLIPTokenizerFast`` read the vocab.json/merges.txt built here, as Stable Diffusion loads its
tokenizer folder. Prompt-to-Prompt's word alignment (Hertz et al. 2023, sec. 3.2) is then checked on this
tokenisation: words of several tokens and punctuation.
"""
import html
import random
import unicodedata

import pytest
import torch

from nti_edu.models.prompts import tokenize
from nti_edu.p2p.words import find_words, refine_mapper, swap_mapper, word_positions
from nti_edu.testing import clip_tokenizer as ct

PROMPTS = [  # what learners type: SD-style prompts, words of several tokens, punctuation, digits, case, unicode
    "", "a photo of a cat", "A Photo Of A CAT", "a tortoiseshell kitten on a windowsill",
    "photorealistic, highly detailed, 8k, trending on artstation", "(masterpiece:1.2), best quality",
    "a cat; a dog! a bird? yes...", "don't stop, it's rock'n'roll", "we'll see what you've done, they're here",
    "1984 was 3.14 times 2,000,000", "a.b,c-d_e/f\\g|h", "antidisestablishmentarianism supercalifragilistic",
    "naïve café in Zürich", "ß straße", "İstanbul at night", "東京の夜景", "Москва зимой", "😀🐱🚀 emoji prompt",
    "tabs\tand\nnewlines   and  spaces", "  leading and trailing  ", "e\u0301 combining accent",
    "a man with a hat, walking his dog--slowly", "\"quoted\" and 'single' and `back`", "#hashtag @user $5 100%",
    "a painting of a sunflower in the style of van gogh", "an astronaut riding a horse on mars",
]
LONG = ["a very long prompt " * 30, "tortoiseshell " * 50, ", ".join(f"word{i}" for i in range(60))]
CLEANED_BY_OPEN_CLIP = ["rock &amp; roll", "x &lt; y", "ﬁne ligature", "Ｆｕｌｌ width", "bell\x07", "a \x05 b"]  # ftfy and html.unescape


@pytest.fixture(scope="session")
def reference():
    return ct.load_open_clip_tokenizer()


@pytest.fixture(scope="session", params=["CLIPTokenizer", "CLIPTokenizerFast", "AutoTokenizer"])
def tokenizer(request, clip_tokenizer_dir):
    import transformers

    return getattr(transformers, request.param).from_pretrained(clip_tokenizer_dir)


def reference_ids(reference, prompt: str) -> list[int]:
    """open_clip's ids for ``prompt`` as SD sees them: start, tokens, end, truncated to 77 with the end kept."""
    row = reference([prompt], context_length=ct.MAX_LENGTH)[0].tolist()  # padded with 0
    end = row.index(reference.eot_token_id)
    assert all(i == 0 for i in row[end + 1:])
    return row[:end + 1]


def random_prompts(reference, n: int, seed: int = 0) -> list[str]:
    """Prompts of random whole-word tokens of CLIP's vocabulary, with punctuation and case mixed in."""
    rng = random.Random(seed)
    words = [w for w in (_as_text(reference, t) for t in reference.encoder if t.endswith("</w>")) if w and not
             any(unicodedata.category(c)[0] == "C" for c in w)]  # control/format characters: ftfy drops them
    marks = ["", "", "", ",", ".", "!", "?", ";", ":", "'s", "-", "(", ")"]
    return [" ".join(rng.choice([str.lower, str.upper, str.title])(rng.choice(words)) + rng.choice(marks)
                     for _ in range(rng.randint(1, 30))) for _ in range(n)]


def _as_text(reference, token: str) -> str:
    try:
        return bytes(reference.byte_decoder[c] for c in token[:-4]).decode("utf-8")
    except UnicodeDecodeError:  # a token holding part of a character
        return ""


def test_vocabulary_is_clips(clip_tokenizer_dir, reference):
    from transformers import CLIPTokenizerFast

    tok = CLIPTokenizerFast.from_pretrained(clip_tokenizer_dir)
    assert len(tok) == ct.VOCAB_SIZE == len(reference.encoder) == 49408
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.model_max_length) == (49406, 49407, 49407, 77)
    ours = tok.get_vocab()
    assert all(ours[t] == i for t, i in reference.encoder.items() if not t.startswith("<"))  # the same ids
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]  # SD's well-known ids


def test_agrees_with_open_clip(tokenizer, reference):
    prompts = PROMPTS + random_prompts(reference, 300)
    disagree = [p for p in prompts if tokenizer(p).input_ids != reference_ids(reference, p)]
    assert disagree == [], f"{len(disagree)} of {len(prompts)} prompts tokenized differently: {disagree[:5]}"
    several = [w for p in PROMPTS for w in p.split() if len(tokenizer(w, add_special_tokens=False).input_ids) > 1]
    assert len(several) >= 20  # words of several tokens were covered


def test_truncation_as_sd(tokenizer, reference):
    """Longer than 77: SD's pipelines truncate, keeping the start and putting the end token at position 76."""
    for prompt in LONG:
        ids = tokenizer(prompt, truncation=True, max_length=77).input_ids
        assert len(tokenizer(prompt).input_ids) > 77
        assert len(ids) == 77 and ids[0] == 49406 and ids[-1] == 49407
        assert ids == reference_ids(reference, prompt)


def test_open_clip_cleans_more(tokenizer, reference):
    """open_clip first cleans the text (ftfy.fix_text, html.unescape twice, whitespace, lower case); transformers'
    fast tokenizer only NFC-normalizes and lower-cases. On text cleaning leaves alone the ids agree (above); on
    HTML entities, ligatures, full-width forms and control characters they agree once the text is cleaned alike."""
    for prompt in CLEANED_BY_OPEN_CLIP:
        cleaned = reference.clean_fn(prompt)
        assert cleaned != prompt.lower()
        assert tokenizer(cleaned).input_ids == reference_ids(reference, prompt)


def test_package_tokenize_pads_with_end_token(clip_tokenizer_dir, reference):
    """nti_edu's ``tokenize``: 77 ids padded with the end token (SD's pad), and a ValueError past 77 tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(clip_tokenizer_dir)
    ids = tokenize(tok, ["a photo of a cat", ""])  # (2, 77)
    assert ids.shape == (2, 77)
    assert ids[0, :7].tolist() == reference_ids(reference, "a photo of a cat") and (ids[0, 7:] == 49407).all()
    assert ids[1, :2].tolist() == [49406, 49407] and (ids[1, 2:] == 49407).all()
    with pytest.raises(ValueError, match="at most 77"):
        tokenize(tok, LONG[0])


@pytest.fixture(scope="module")
def fast(clip_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(clip_tokenizer_dir)


def test_word_positions_cover_each_words_tokens(fast, reference):
    """Each word's positions hold exactly open_clip's tokens of that word, in order, after the start token."""
    for prompt in ["a tortoiseshell kitten, sleeping!", "photorealistic antidisestablishmentarianism", "it's (a) cat..."]:
        ids = reference_ids(reference, prompt)
        positions = word_positions(fast, prompt)
        assert [p for word in positions for p in word] == list(range(1, len(ids) - 1))
        for word, where in zip(prompt.split(), positions):
            assert [ids[p] for p in where] == reference.encode(word)
    assert [len(w) for w in word_positions(fast, "a tortoiseshell kitten, sleeping!")] == \
        [len(reference.encode(w)) for w in ["a", "tortoiseshell", "kitten,", "sleeping!"]]


def test_find_words_with_several_tokens_and_punctuation(fast, reference):
    prompt = "a tortoiseshell kitten, sleeping on a windowsill."
    n_tortoise = len(reference.encode("tortoiseshell"))
    assert n_tortoise > 1
    assert find_words(fast, prompt, "tortoiseshell") == list(range(2, 2 + n_tortoise))
    kitten = find_words(fast, prompt, "kitten,")
    assert [reference.decoder[reference.encode(prompt)[p - 1]] for p in kitten][-1] == ",</w>"
    assert find_words(fast, prompt, "a") == [1, word_positions(fast, prompt)[5][0]]  # every occurrence


def test_swap_mapper_spreads_a_word_over_its_tokens(fast, reference):
    """A one-token word swapped for a word of k tokens: each of the k target tokens reads the source token / k."""
    source, target = "a photo of a cat", "a photo of a tortoiseshell"
    k = len(reference.encode("tortoiseshell"))
    mapper, alpha = swap_mapper(fast, source, target)  # (77, 77), (77,)
    assert mapper[5, 5:5 + k].tolist() == pytest.approx([1 / k] * k)
    assert mapper[:5, :5].equal(torch.eye(5)) and alpha.sum() == 77
    assert mapper[5].sum() == pytest.approx(1.0)  # the source word's attention is shared out, not copied
    others = [n for n in range(77) if not 5 <= n < 5 + k]
    assert mapper[:, others].sum(0).tolist() == pytest.approx([1.0] * len(others))  # one source token each


def test_refine_mapper_new_words_keep_their_attention(fast, reference):
    source, target = "a cat sitting, sleeping", "a fluffy tortoiseshell cat sitting, sleeping"
    mapper, alpha = refine_mapper(fast, source, target)
    new = find_words(fast, target, ["fluffy", "tortoiseshell"])
    assert len(new) == len(reference.encode("fluffy tortoiseshell")) and alpha[new].sum() == 0
    for word in ["cat", "sitting,", "sleeping"]:
        src, tgt = find_words(fast, source, word), find_words(fast, target, word)
        assert mapper[src, tgt].tolist() == [1.0] * len(src)
    assert alpha.sum() == 77 - len(new)


def test_loading_prints_no_warning(clip_tokenizer_dir, capfd):
    """SD's special_tokens_map.json has no "__type" (transformers 5 hands that file's entries to the Rust
    AddedToken as they are: "Ignored unknown kwarg option __type", once per special token)."""
    from transformers import AutoTokenizer

    capfd.readouterr()
    tokenizer = AutoTokenizer.from_pretrained(clip_tokenizer_dir)
    out, err = capfd.readouterr()
    assert "__type" not in out + err and "Ignored" not in out + err, out + err
    assert tokenizer.bos_token == ct.START and tokenizer.eos_token == tokenizer.unk_token == ct.END
