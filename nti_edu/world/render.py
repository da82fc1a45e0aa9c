"""Rendering a scene to a 64x64 RGB image and its masks, with optional seeded jitter.

Objects are painted over the plain background in order, each with its coverage as alpha. A pixel's
mask is the topmost object covering at least half of it, so the masks split the image into
disjoint regions. Jitter (a seed is given) moves an object by up to ``POSITION_JITTER`` pixels,
scales it by up to ``SIZE_JITTER`` and shifts every colour by up to ``COLOUR_JITTER`` per channel:
small enough that the prompt still describes the image without doubt. With no seed the scene is
drawn exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import draw
from .animals import ANIMAL_DRAWERS
from .draw import Pen
from .painting import paint
from .scene import Scene
from .vocabulary import COLOURS, FEATURES_COLOUR, IMAGE_SIDE, POSITIONS, SIZES, SUNGLASSES_COLOUR

COLOUR_JITTER = 8  # each RGB channel moves by up to this much per image
POSITION_JITTER = 2.0  # pixels
SIZE_JITTER = 0.07  # relative
FACE_CENTRE, FACE_RADIUS = (32.0, 35.0), 17.0  # pixels; the face sits low to leave room for a hat


@dataclass
class Layer:
    name: str  # the mask it belongs to: "object", "face", "sunglasses", "hat"
    alpha: np.ndarray  # (64, 64) float32 coverage in [0, 1]
    rgb: np.ndarray  # (3,) float32 in [0, 255]


def _uniform(rng: np.random.Generator | None, bound: float) -> float:
    return 0.0 if rng is None else float(rng.uniform(-bound, bound))


def _rgb(name: str, rng: np.random.Generator | None) -> np.ndarray:
    shift = np.zeros(3) if rng is None else rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
    return np.clip(np.array(COLOURS[name]) + shift, 0, 255).astype(np.float32)  # (3,)


def _layer(name: str, part, x: float, y: float, size: float, rgb: np.ndarray) -> Layer:
    pen = Pen()
    part(pen, x, y, size)
    return Layer(name, pen.coverage(), rgb)


def shape_layers(scene: Scene, rng: np.random.Generator | None) -> list[Layer]:
    """One layer, the shape, kept fully inside the image whatever the jitter."""
    h = SIZES[scene.size] / 2 * (1 + _uniform(rng, SIZE_JITTER))  # half the box side
    x, y = (c + _uniform(rng, POSITION_JITTER) for c in POSITIONS[scene.position])
    x, y = (float(np.clip(c, h + 1, IMAGE_SIDE - 1 - h)) for c in (x, y))
    return [_layer("object", draw.SHAPE_DRAWERS[scene.shape], x, y, h, _rgb(scene.colour, rng))]


def face_layers(scene: Scene, rng: np.random.Generator | None) -> list[Layer]:
    """The face, its eyes and mouth, then sunglasses and a hat when the scene has them."""
    r = FACE_RADIUS * (1 + _uniform(rng, SIZE_JITTER))
    x, y = (c + _uniform(rng, POSITION_JITTER) for c in FACE_CENTRE)
    layers = [_layer("face", draw.face_disc, x, y, r, _rgb(scene.colour, rng)),
              _layer("face", draw.face_features, x, y, r, _rgb(FEATURES_COLOUR, rng))]
    hat_rgb = _rgb(scene.hat, rng) if scene.hat is not None else None  # drawn first: adding sunglasses
    if scene.sunglasses:  # with the same seed leaves every other colour as it was
        layers.append(_layer("sunglasses", draw.sunglasses, x, y, r, _rgb(SUNGLASSES_COLOUR, rng)))
    if scene.hat is not None:
        layers.append(_layer("hat", draw.hat, x, y, r, hat_rgb))
    return layers


def animal_layers(scene: Scene, rng: np.random.Generator | None) -> list[Layer]:
    """The animal's body in its colour, then its eyes, nose (and whiskers) in black: both in the mask "animal".

    A dog and a cat take the same random draws, so with the same seed a swap changes only the animal.
    """
    h = SIZES[scene.size] / 2 * (1 + _uniform(rng, SIZE_JITTER))  # half the box side, as for a shape
    x, y = (c + _uniform(rng, POSITION_JITTER) for c in POSITIONS[scene.position])
    x, y = (float(np.clip(c, h + 1, IMAGE_SIDE - 1 - h)) for c in (x, y))
    body, features = ANIMAL_DRAWERS[scene.animal]
    return [_layer("animal", body, x, y, h, _rgb(scene.colour, rng)),
            _layer("animal", features, x, y, h, _rgb(FEATURES_COLOUR, rng))]


LAYERS = {"shape": shape_layers, "face": face_layers, "animal": animal_layers}  # scene kind -> its layers


def composite(background: np.ndarray, layers: list[Layer]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Paint layers over a plain background: (64, 64, 3) uint8 image, masks {name: (64, 64) bool}."""
    image = np.broadcast_to(background, (IMAGE_SIDE, IMAGE_SIDE, 3)).astype(np.float32)  # (H, W, 3)
    owner = np.full((IMAGE_SIDE, IMAGE_SIDE), -1)  # index of the topmost layer covering >= half a pixel
    for k, layer in enumerate(layers):
        alpha = layer.alpha[..., None]  # (H, W, 1)
        image = image * (1 - alpha) + layer.rgb * alpha
        owner[layer.alpha >= 0.5] = k
    masks = {"background": owner == -1}
    for k, layer in enumerate(layers):
        masks[layer.name] = masks.get(layer.name, False) | (owner == k)
    return np.round(image).astype(np.uint8), masks


def render(scene: Scene, seed: int | np.random.Generator | None = None) -> tuple[Image.Image, dict[str, np.ndarray]]:
    """Draw a scene: (64x64 RGB PIL image, {mask name: (64, 64) bool array}).

    Mask names: "object" and "background" for shapes; "face", "background" and, when drawn,
    "sunglasses" and "hat" for faces; "animal" and "background" for animals. The masks are disjoint
    and together cover the image. A painted scene (``scene.style``) is drawn plainly, then repainted
    (``painting.py``); its masks are the plain drawing's.
    """
    if not isinstance(scene, Scene):
        raise ValueError(f"render expects a Scene, got {type(scene).__name__}")
    rng = None if seed is None else np.random.default_rng(seed)
    background = _rgb(scene.background, rng)
    image, masks = composite(background, LAYERS[scene.kind](scene, rng))
    if scene.style is not None:
        image = paint(image)
    return Image.fromarray(image, mode="RGB"), masks
