"""The edits the lecture shows, as (source prompt, target prompt, region the edit may change).

Prompt-to-Prompt (Hertz et al. 2022) edits in two ways that matter here:
  * a word swap ("red" -> "blue") needs prompts with the same number of words, so that the
    attention maps of word i in the source can be injected for word i of the target;
  * a refinement adds words ("a face" -> "a face with sunglasses"); the words the two prompts share
    are aligned, the new ones get fresh attention.
``region`` names the mask (from ``render``) inside which pixels may change: the edit is judged by how
well everything outside it is kept. ``render_edit`` draws both scenes with the same jitter and the
region as a pixel mask: the union of the source's and the target's masks of that name (a shape swap
changes both), grown by one pixel to take in the anti-aliased edge. Outside it the two drawings
are identical.

Issue 37 adds the lecture's other two examples in ``GROWN_EDIT_KINDS`` (``EDIT_KINDS`` stays the four
that the shipped model and the reports measure): "animal swap", dog -> cat in the animal's mask, and
"abstract painting", a portrait -> its abstract painting, whose region is the whole image ("image"):
a style changes every pixel, so it is judged on the layout it keeps, not on pixels outside a region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .render import render
from .scene import Scene, edit_scene, random_grown_scene, random_scene
from .vocabulary import ANIMALS, COLOURS, PAINTING, SHAPES

WORD_SWAP, REFINEMENT = "word swap", "refinement"


@dataclass(frozen=True)
class Edit:
    kind: str  # one of EDIT_KINDS
    source: Scene
    target: Scene
    region: str  # mask name: "object", "background", "sunglasses", "animal"; or "image", every pixel
    p2p: str  # WORD_SWAP or REFINEMENT

    @property
    def source_prompt(self) -> str:
        return self.source.prompt()

    @property
    def target_prompt(self) -> str:
        return self.target.prompt()

    def prompts_and_region(self) -> tuple[str, str, str]:
        return self.source_prompt, self.target_prompt, self.region


def _pick(rng: np.random.Generator, options: list):
    if not options:
        raise ValueError("no value is left to swap to")
    return options[rng.integers(len(options))]


def _needs(scene: Scene, kind: str, edit: str) -> None:
    if scene.kind != kind:
        raise ValueError(f"the edit {edit!r} applies to {kind} scenes, got a {scene.kind} scene: {scene.prompt()!r}")


def colour_swap(scene: Scene, rng: np.random.Generator) -> Edit:
    """Change the shape's colour: "a small red circle ..." -> "a small blue circle ..."."""
    _needs(scene, "shape", "colour swap")
    colour = _pick(rng, [c for c in COLOURS if c not in (scene.colour, scene.background)])
    return Edit("colour swap", scene, edit_scene(scene, colour=colour), "object", WORD_SWAP)


def shape_swap(scene: Scene, rng: np.random.Generator) -> Edit:
    """Change the shape: "... red circle ..." -> "... red star ..."."""
    _needs(scene, "shape", "shape swap")
    shape = _pick(rng, [s for s in SHAPES if s != scene.shape])
    return Edit("shape swap", scene, edit_scene(scene, shape=shape), "object", WORD_SWAP)


def background_swap(scene: Scene, rng: np.random.Generator) -> Edit:
    """Change the background colour, keeping the object: "... on a blue background" -> "... green ..."."""
    banned = {scene.colour, scene.background, scene.hat}
    background = _pick(rng, [c for c in COLOURS if c not in banned])
    return Edit("background swap", scene, edit_scene(scene, background=background), "background", WORD_SWAP)


def add_sunglasses(scene: Scene, rng: np.random.Generator | None = None) -> Edit:
    """Put sunglasses on a face: "a yellow face on ..." -> "a yellow face with sunglasses on ..."."""
    _needs(scene, "face", "add sunglasses")
    if scene.sunglasses:
        raise ValueError(f"this face already wears sunglasses: {scene.prompt()!r}")
    return Edit("add sunglasses", scene, edit_scene(scene, sunglasses=True), "sunglasses", REFINEMENT)


def animal_swap(scene: Scene, rng: np.random.Generator | None = None) -> Edit:
    """The other animal, same pose, size, colour and place: "a large brown dog ..." -> "a large brown cat ..."."""
    _needs(scene, "animal", "animal swap")
    other = next(a for a in ANIMALS if a != scene.animal)
    return Edit("animal swap", scene, edit_scene(scene, animal=other), "animal", WORD_SWAP)


def abstract_painting(scene: Scene, rng: np.random.Generator | None = None) -> Edit:
    """Paint a portrait: "a yellow face ..." -> "an abstract painting of a yellow face ..."; every pixel changes."""
    _needs(scene, "face", "abstract painting")
    if scene.style is not None or scene.hat is not None:
        raise ValueError(f"the abstract painting applies to a plain portrait without a hat, got {scene.prompt()!r}")
    return Edit("abstract painting", scene, edit_scene(scene, style=PAINTING), "image", REFINEMENT)


EDIT_KINDS = {"colour swap": colour_swap, "shape swap": shape_swap,
              "background swap": background_swap, "add sunglasses": add_sunglasses}
GROWN_EDIT_KINDS = {"animal swap": animal_swap, "abstract painting": abstract_painting}  # issue 37
ALL_EDIT_KINDS = EDIT_KINDS | GROWN_EDIT_KINDS


def make_edit(kind: str, scene: Scene, rng: np.random.Generator | None = None) -> Edit:
    """Apply the edit ``kind`` (a key of ALL_EDIT_KINDS) to ``scene``; ValueError if it does not apply."""
    if kind not in ALL_EDIT_KINDS:
        raise ValueError(f"unknown edit kind {kind!r}; allowed: {', '.join(ALL_EDIT_KINDS)}")
    return ALL_EDIT_KINDS[kind](scene, rng if rng is not None else np.random.default_rng(0))


def random_edit(kind: str, rng: np.random.Generator) -> Edit:
    """A random scene that the edit ``kind`` applies to, and the edit (an animal swap starts from a dog)."""
    if kind not in ALL_EDIT_KINDS:
        raise ValueError(f"unknown edit kind {kind!r}; allowed: {', '.join(ALL_EDIT_KINDS)}")
    if kind == "add sunglasses":
        scene = edit_scene(random_scene(rng, face_fraction=1.0), sunglasses=False)
    elif kind == "animal swap":
        scene = edit_scene(random_grown_scene(rng, animal_share=1.0), animal="dog")
    elif kind == "abstract painting":
        scene = edit_scene(random_grown_scene(rng, animal_share=0.0), style=None)
    else:
        scene = random_scene(rng, face_fraction=0.0)
    return make_edit(kind, scene, rng)


def _grow(mask: np.ndarray) -> np.ndarray:
    """The mask and its 8 neighbours: (H, W) bool, one pixel wider on every side."""
    padded = np.pad(mask, 1)
    H, W = mask.shape
    return np.any([padded[dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)], axis=0)


def render_edit(edit: Edit, seed: int | None = None) -> tuple[Image.Image, Image.Image, np.ndarray]:
    """(source image, target image, region (64, 64) bool): both scenes drawn with the same jitter."""
    source, source_masks = render(edit.source, seed)
    target, target_masks = render(edit.target, seed)
    empty = np.zeros((source.height, source.width), dtype=bool)
    if edit.region == "image":  # a style: every pixel may change
        return source, target, ~empty
    region = source_masks.get(edit.region, empty) | target_masks.get(edit.region, empty)
    return source, target, _grow(region)
