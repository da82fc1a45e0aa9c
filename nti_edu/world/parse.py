"""From a prompt back to its scene: a small reader for the world's grammar (see ``scene.py``)."""
from __future__ import annotations

import dataclasses
import difflib

from .scene import Scene
from .vocabulary import ANIMALS, COLOURS, GROWN_WORDS, PAINTING, POSITIONS, SHAPES, SIZES

EXAMPLES = ("'a small red circle at the top left on a blue background', "
            "'a yellow face with sunglasses and a red hat on a green background'")


# Words read as another: English writes "an" before a vowel ("an orange face"), the world's prompts
# always "a"; the tokenizer's normalizer does the same, so both give the same tokens.
ALIASES = {"an": "a"}


def _words(text: str) -> list[str]:
    """The prompt's words, lower case, with ``ALIASES`` applied."""
    return [ALIASES.get(word, word) for word in text.lower().split()]


def vocabulary(grown: bool = False) -> list[str]:
    """Every word of the shipped model's grammar, sorted; ``grown``: then issue 37's words (animals, the
    painting style) in ``GROWN_WORDS``' order, the order of their token ids after the others."""
    words = {"a", "at", "the", "on", "background", "face", "with", "sunglasses", "and", "hat"}
    words |= set(COLOURS) | set(SHAPES) | set(SIZES)
    words |= {w for position in POSITIONS for w in position.split()}
    return sorted(words) + (list(GROWN_WORDS) if grown else [])


class _Reader:
    """Walks through a prompt's words; every ``take`` names what it expected when it fails."""

    def __init__(self, text: str):
        self.text, self.words, self.i = text, _words(text), 0

    def peek(self, n: int = 1) -> str:
        return " ".join(self.words[self.i:self.i + n])

    def fail(self, what: str):
        got = repr(self.words[self.i]) if self.i < len(self.words) else "the end of the prompt"
        raise ValueError(f"cannot read {self.text!r} as a prompt of this world: expected {what} at word "
                         f"{self.i + 1}, got {got}. Prompts look like {EXAMPLES}")

    def take(self, options, what: str) -> str:
        for n in (2, 1):  # two-word options ("top left") first
            candidate = self.peek(n)
            if candidate in options and len(candidate.split()) == n:
                self.i += n
                return candidate
        self.fail(what if len(options) == 1 else f"{what} ({', '.join(options)})")

    def expect(self, *words: str) -> None:
        for word in words:
            self.take([word], repr(word))


def _check_words(text: str) -> None:
    known = vocabulary(grown=True)
    for word in _words(text):
        if word not in known:
            close = difflib.get_close_matches(word, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"the word {word!r} is not in this world's vocabulary.{hint} "
                             f"Allowed words: {', '.join(known)}")


def _read_face(r: _Reader, colour: str) -> Scene:
    sunglasses, hat = False, None
    if r.peek() == "with":
        r.expect("with")
        if r.peek() == "sunglasses":
            r.expect("sunglasses")
            sunglasses = True
            if r.peek() == "and":
                r.expect("and")
                hat = _read_hat(r)
        else:
            hat = _read_hat(r)
    background = _read_background(r)
    return Scene("face", colour, background, sunglasses=sunglasses, hat=hat)


def _read_hat(r: _Reader) -> str:
    r.expect("a")
    hat = r.take(list(COLOURS), "a hat colour")
    r.expect("hat")
    return hat


def _read_background(r: _Reader) -> str:
    r.expect("on", "a")
    background = r.take(list(COLOURS), "a background colour")
    r.expect("background")
    if r.i != len(r.words):
        r.fail("the end of the prompt")
    return background


def parse_prompt(text: str) -> Scene:
    """The scene a prompt describes; a ValueError that says what was expected if it is not in the grammar.

    Case and repeated spaces are ignored, and "an" is read as "a", as the tokenizer does.
    """
    if not isinstance(text, str):
        raise ValueError(f"a prompt must be a string, got {type(text).__name__}")
    _check_words(text)
    r = _Reader(text)
    r.expect("a")
    if r.peek() != "abstract":
        return _read_scene(r)
    r.expect(*PAINTING.split(), "of", "a")  # "an abstract painting of a ..." (issue 37)
    return dataclasses.replace(_read_scene(r), style=PAINTING)  # the Scene checks that it is a portrait


def _read_scene(r: _Reader) -> Scene:
    """The scene after its first "a": a face, or a size, a colour and a shape or an animal."""
    size = r.take(list(SIZES), "a size") if r.peek() in SIZES else None
    colour = r.take(list(COLOURS), "a colour")
    if size is None and r.peek() == "face":
        r.expect("face")
        return _read_face(r, colour)
    if size is None:
        r.fail(f"'face' (or a size, {', '.join(SIZES)}, before the colour of a shape)")
    noun = r.take(SHAPES + ANIMALS, "a shape or an animal")
    r.expect("at", "the")
    position = r.take(list(POSITIONS), "a position")
    animal = noun if noun in ANIMALS else None
    return Scene("animal" if animal else "shape", colour, _read_background(r), shape=None if animal else noun,
                 size=size, position=position, animal=animal)
