"""A scene as plain attributes, and its prompt (``parse.py`` goes back from a prompt to the scene).

Two kinds of scene, each with one sentence pattern (the grammar):

    shape:  "a {size} {colour} {shape} at the {position} on a {background} background"
            "a small red circle at the top left on a blue background"
    face:   "a {colour} face{extras} on a {background} background", where extras is one of
            "", " with sunglasses", " with a {hat} hat", " with sunglasses and a {hat} hat"
            "a yellow face with sunglasses and a red hat on a green background"

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

from .vocabulary import COLOURS, FACE_COLOURS, POSITIONS, SHAPES, SIZES


def _check_choice(value, allowed, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(str, allowed))}; got {value!r}")


@dataclass(frozen=True)
class Scene:
    """What an image shows. Fields that do not apply to a kind of scene are None (or False)."""

    kind: str  # "shape" or "face"
    colour: str  # the colour of the shape, or of the face
    background: str  # the background colour
    shape: str | None = None  # shape scenes only
    size: str | None = None  # shape scenes only: small, medium or large
    position: str | None = None  # shape scenes only: center, top left, ...
    sunglasses: bool = False  # face scenes only
    hat: str | None = None  # face scenes only: the hat's colour, or None for no hat

    def __post_init__(self):
        _check_choice(self.kind, ("shape", "face"), "kind")
        _check_choice(self.background, list(COLOURS), "background")
        if self.kind == "shape":
            self._check_shape()
        else:
            self._check_face()
        if self.colour == self.background:
            raise ValueError(f"the background must differ from the {self.kind}'s colour; both are {self.colour!r}")

    def _check_shape(self) -> None:
        _check_choice(self.colour, list(COLOURS), "colour")
        _check_choice(self.shape, SHAPES, "shape")
        _check_choice(self.size, list(SIZES), "size")
        _check_choice(self.position, list(POSITIONS), "position")
        if self.sunglasses or self.hat is not None:
            raise ValueError("only face scenes have sunglasses or a hat")

    def _check_face(self) -> None:
        _check_choice(self.colour, FACE_COLOURS, "face colour")
        if (self.shape, self.size, self.position) != (None, None, None):
            raise ValueError("face scenes have no shape, size or position (leave them None)")
        _check_choice(self.sunglasses, (True, False), "sunglasses")
        if self.hat is not None:
            _check_choice(self.hat, list(COLOURS), "hat colour")
            if self.hat in (self.colour, self.background):
                raise ValueError(f"the hat must differ from the face and background colours; got {self.hat!r}")

    def prompt(self) -> str:
        """The scene's sentence in the world's grammar (see the module docstring)."""
        tail = f"on a {self.background} background"
        if self.kind == "shape":
            return f"a {self.size} {self.colour} {self.shape} at the {self.position} {tail}"
        extras = (["sunglasses"] if self.sunglasses else []) + ([f"a {self.hat} hat"] if self.hat else [])
        middle = f" with {' and '.join(extras)}" if extras else ""
        return f"a {self.colour} face{middle} {tail}"

    def object_words(self) -> tuple[str, ...]:
        """The prompt's nouns of what stands on the background: the shape, or the face and what it wears."""
        if self.kind == "shape":
            return (self.shape,)
        return ("face",) + (("sunglasses",) if self.sunglasses else ()) + (("hat",) if self.hat else ())

    def attributes(self) -> dict[str, object]:
        """The attributes a prompt of this kind names: the ones an evaluator judges."""
        names = ["kind", "shape", "colour", "size", "position", "background"] if self.kind == "shape" \
            else ["kind", "colour", "sunglasses", "hat", "background"]
        return {name: getattr(self, name) for name in names}


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
