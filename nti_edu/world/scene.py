"""A scene as plain attributes, and its prompt (``parse.py`` goes back from a prompt to the scene).

Three kinds of scene, each with one sentence pattern (the grammar):

    shape:  "a {size} {colour} {shape} at the {position} on a {background} background"
            "a small red circle at the top left on a blue background"
    face:   "a {colour} face{extras} on a {background} background", where extras is one of
            "", " with sunglasses", " with a {hat} hat", " with sunglasses and a {hat} hat"
            "a yellow face with sunglasses and a red hat on a green background"
    animal: "a {size} {colour} {animal} at the {position} on a {background} background" (issue 37)
            "a large brown dog at the top left on a blue background"
A portrait (a face without a hat) may be painted (issue 37): "an abstract painting of " + its prompt,
"an abstract painting of a yellow face with sunglasses on a green background" (13 words; a hat would make
the longest 16, past the tokenizer's 14). Animals and paintings are drawn only by the separate sampling
path ``random_grown_scene``: ``random_scene`` and ``all_scenes`` give exactly what they gave before.

The article is always "a", also before "orange": with one article, swapping a colour changes
exactly one word, as Prompt-to-Prompt's word swap needs. Rules that keep every attribute visible:
the background is never the object's colour, a face uses one of ``FACE_COLOURS``, and a hat is
neither the face's colour nor the background's.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .vocabulary import (ANIMAL_COLOURS, ANIMAL_SIZES, ANIMALS, COLOURS, FACE_COLOURS, PAINTING, POSITIONS, SCENE_KINDS,
                         SHAPES, SIZES, STYLES)


def _check_choice(value, allowed, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(str, allowed))}; got {value!r}")


@dataclass(frozen=True)
class Scene:
    """What an image shows. Fields that do not apply to a kind of scene are None (or False)."""

    kind: str  # "shape", "face" or "animal"
    colour: str  # the colour of the shape, the face or the animal
    background: str  # the background colour
    shape: str | None = None  # shape scenes only
    size: str | None = None  # shape scenes only: small, medium or large
    position: str | None = None  # shape scenes only: center, top left, ...
    sunglasses: bool = False  # face scenes only
    hat: str | None = None  # face scenes only: the hat's colour, or None for no hat
    animal: str | None = None  # animal scenes only: "dog" or "cat" (issue 37)
    style: str | None = None  # None (drawn plainly) or "abstract painting", for a face without a hat (issue 37)

    def __post_init__(self):
        _check_choice(self.kind, SCENE_KINDS, "kind")
        _check_choice(self.background, list(COLOURS), "background")
        {"shape": self._check_shape, "face": self._check_face, "animal": self._check_animal}[self.kind]()
        if self.colour == self.background:
            raise ValueError(f"the background must differ from the {self.kind}'s colour; both are {self.colour!r}")
        if self.style is not None:
            self._check_style()

    def __repr__(self) -> str:  # issue 37's fields only when set: today's scenes print as they did
        names = [f.name for f in dataclasses.fields(self) if f.name not in ("animal", "style")
                 or getattr(self, f.name) is not None]
        return f"Scene({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def _check_shape(self) -> None:
        _check_choice(self.colour, list(COLOURS), "colour")
        _check_choice(self.shape, SHAPES, "shape")
        _check_choice(self.size, list(SIZES), "size")
        _check_choice(self.position, list(POSITIONS), "position")
        if self.sunglasses or self.hat is not None:
            raise ValueError("only face scenes have sunglasses or a hat")
        if self.animal is not None:
            raise ValueError("only animal scenes have an animal")

    def _check_animal(self) -> None:
        _check_choice(self.animal, ANIMALS, "animal")
        _check_choice(self.colour, ANIMAL_COLOURS, "animal colour")
        _check_choice(self.size, ANIMAL_SIZES, "animal size")
        _check_choice(self.position, list(POSITIONS), "position")
        if self.shape is not None or self.sunglasses or self.hat is not None:
            raise ValueError("animal scenes have no shape, sunglasses or hat (leave them None)")

    def _check_style(self) -> None:
        _check_choice(self.style, STYLES, "style")
        if self.kind != "face" or self.hat is not None:
            raise ValueError(f"the style {self.style!r} applies to portraits: face scenes without a hat "
                             f"(its prompt must fit in 14 words); got a {self.kind} scene"
                             + (" with a hat" if self.hat else ""))

    def _check_face(self) -> None:
        _check_choice(self.colour, FACE_COLOURS, "face colour")
        if (self.shape, self.size, self.position, self.animal) != (None, None, None, None):
            raise ValueError("face scenes have no shape, size, position or animal (leave them None)")
        _check_choice(self.sunglasses, (True, False), "sunglasses")
        if self.hat is not None:
            _check_choice(self.hat, list(COLOURS), "hat colour")
            if self.hat in (self.colour, self.background):
                raise ValueError(f"the hat must differ from the face and background colours; got {self.hat!r}")

    def prompt(self) -> str:
        """The scene's sentence in the world's grammar (see the module docstring)."""
        tail = f"on a {self.background} background"
        if self.kind != "face":
            return f"a {self.size} {self.colour} {self.shape or self.animal} at the {self.position} {tail}"
        extras = (["sunglasses"] if self.sunglasses else []) + ([f"a {self.hat} hat"] if self.hat else [])
        middle = f" with {' and '.join(extras)}" if extras else ""
        style = f"an {self.style} of " if self.style else ""  # only "abstract painting", after "an"
        return f"{style}a {self.colour} face{middle} {tail}"

    def object_words(self) -> tuple[str, ...]:
        """The prompt's nouns of what stands on the background: the shape, or the face and what it wears."""
        if self.kind != "face":
            return (self.shape or self.animal,)
        return ("face",) + (("sunglasses",) if self.sunglasses else ()) + (("hat",) if self.hat else ())

    def attributes(self) -> dict[str, object]:
        """The attributes a prompt of this kind names: the ones an evaluator judges."""
        names = {"shape": ["kind", "shape", "colour", "size", "position", "background"],
                 "face": ["kind", "colour", "sunglasses", "hat", "background"],
                 "animal": ["kind", "animal", "colour", "size", "position", "background"]}[self.kind]
        return {name: getattr(self, name) for name in names + (["style"] if self.style else [])}


def edit_scene(scene: Scene, **changes) -> Scene:
    """A copy of ``scene`` with some attributes changed, checked like any new scene."""
    unknown = set(changes) - {f.name for f in dataclasses.fields(Scene)}
    if unknown:
        raise ValueError(f"unknown scene attributes {sorted(unknown)}; "
                         f"allowed: {[f.name for f in dataclasses.fields(Scene)]}")
    return dataclasses.replace(scene, **changes)


def random_scene(rng: np.random.Generator, face_fraction: float = 0.25) -> Scene:
    """Draw a scene uniformly within its kind; a face with probability ``face_fraction``."""
    if not 0.0 <= face_fraction <= 1.0:
        raise ValueError(f"face_fraction must be in [0, 1], got {face_fraction}")
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    if rng.random() < face_fraction:
        colour = pick(FACE_COLOURS)
        background = pick([c for c in COLOURS if c != colour])
        hat = pick([c for c in COLOURS if c not in (colour, background)]) if rng.random() < 0.5 else None
        return Scene("face", colour, background, sunglasses=bool(rng.random() < 0.5), hat=hat)
    colour = pick(list(COLOURS))
    background = pick([c for c in COLOURS if c != colour])
    return Scene("shape", colour, background, shape=pick(SHAPES), size=pick(list(SIZES)),
                 position=pick(list(POSITIONS)))


def all_scenes() -> Iterator[Scene]:
    """Every scene the grammar allows, shapes first; each has a different prompt."""
    for shape, colour, size, position, background in itertools.product(SHAPES, COLOURS, SIZES, POSITIONS, COLOURS):
        if background != colour:
            yield Scene("shape", colour, background, shape=shape, size=size, position=position)
    for colour, background, sunglasses in itertools.product(FACE_COLOURS, COLOURS, (False, True)):
        if background == colour:
            continue
        for hat in [None] + [c for c in COLOURS if c not in (colour, background)]:
            yield Scene("face", colour, background, sunglasses=sunglasses, hat=hat)


def count_prompts() -> int:
    """How many distinct prompts the grammar has."""
    return len({scene.prompt() for scene in all_scenes()})


GROWN_ANIMAL_SHARE = 0.6  # in the grown path: animals; the rest are painted portraits


def random_grown_scene(rng: np.random.Generator, animal_share: float = GROWN_ANIMAL_SHARE) -> Scene:
    """Issue 37's separate path: an animal (``animal_share``) or else a painted portrait, uniform within its kind."""
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    if rng.random() < animal_share:
        colour = pick(ANIMAL_COLOURS)
        background = pick([c for c in COLOURS if c != colour])
        return Scene("animal", colour, background, size=pick(ANIMAL_SIZES), position=pick(list(POSITIONS)),
                     animal=pick(ANIMALS))
    colour = pick(FACE_COLOURS)
    background = pick([c for c in COLOURS if c != colour])
    return Scene("face", colour, background, sunglasses=bool(rng.random() < 0.5), style=PAINTING)


def all_grown_scenes() -> Iterator[Scene]:
    """Every scene issue 37 added: the animals, then the painted portraits; each has a different prompt."""
    for animal, colour, size, position, background in itertools.product(ANIMALS, ANIMAL_COLOURS, ANIMAL_SIZES,
                                                                        POSITIONS, COLOURS):
        if background != colour:
            yield Scene("animal", colour, background, size=size, position=position, animal=animal)
    for colour, background, sunglasses in itertools.product(FACE_COLOURS, COLOURS, (False, True)):
        if background != colour:
            yield Scene("face", colour, background, sunglasses=sunglasses, style=PAINTING)
