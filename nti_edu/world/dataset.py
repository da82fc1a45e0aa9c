"""Examples of the world, one per seed: the seed fixes the scene and its jitter.

Training draws seeds from [0, TRAIN_SEED_LIMIT); held-out evaluation uses seeds from
HELDOUT_SEED_START on, so no held-out image is ever a training image. (The prompts themselves do
repeat: the grammar has about 11,000 of them, and each is drawn many times with different jitter.)

Issue 37's animals and painted portraits come from a separate path: with ``new_kinds`` > 0, a second
random stream of the seed, ``default_rng((seed, GROWN_STREAM))``, decides whether the seed draws a grown
scene (with probability ``new_kinds``, from that stream); every other seed gives exactly today's example.
With ``new_kinds`` = 0 (the default) nothing changes at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .render import render
from .scene import Scene, random_grown_scene, random_scene

TRAIN_SEED_LIMIT = 10**9
HELDOUT_SEED_START = 10**9
FACE_FRACTION = 0.25  # share of face scenes; the rest are shape scenes
GROWN_STREAM = 37  # the second word of the grown path's seed (issue 37)


@dataclass
class Example:
    image: torch.Tensor  # (3, 64, 64) float32 in [0, 1]
    prompt: str
    scene: Scene
    masks: dict[str, np.ndarray]  # name -> (64, 64) bool


def train_seeds(n: int, start: int = 0) -> range:
    """``n`` consecutive training seeds from ``start``."""
    if start < 0 or n < 0 or start + n > TRAIN_SEED_LIMIT:
        raise ValueError(f"training seeds must lie in [0, {TRAIN_SEED_LIMIT}); asked for [{start}, {start + n})")
    return range(start, start + n)


def heldout_seeds(n: int, start: int = 0) -> range:
    """``n`` held-out seeds: HELDOUT_SEED_START + start onwards, never used for training."""
    if start < 0 or n < 0:
        raise ValueError(f"start and n must be >= 0, got start={start}, n={n}")
    return range(HELDOUT_SEED_START + start, HELDOUT_SEED_START + start + n)


def make_example(seed: int, face_fraction: float = FACE_FRACTION, new_kinds: float = 0.0) -> Example:
    """The example for one seed (the same seed always gives the same example).

    ``new_kinds``: the share of seeds that draw one of issue 37's scenes instead (animals, painted
    portraits; see the module docstring); 0 gives today's world exactly.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= new_kinds <= 1.0:
        raise ValueError(f"new_kinds must be in [0, 1], got {new_kinds}")
    scene, rng = _draw_scene(int(seed), face_fraction, new_kinds)
    pil, masks = render(scene, rng)
    image = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)  # (3, 64, 64)
    return Example(image.contiguous(), scene.prompt(), scene, masks)


def _draw_scene(seed: int, face_fraction: float, new_kinds: float) -> tuple[Scene, np.random.Generator]:
    """The seed's scene and the stream its jitter goes on from: today's, or (issue 37) the grown path's."""
    if new_kinds > 0:
        grown = np.random.default_rng((seed, GROWN_STREAM))
        if grown.random() < new_kinds:
            return random_grown_scene(grown), grown
    rng = np.random.default_rng(seed)
    return random_scene(rng, face_fraction), rng


def make_batch(seeds: Sequence[int], face_fraction: float = FACE_FRACTION, new_kinds: float = 0.0):
    """(images (B, 3, 64, 64) float32 in [0, 1], prompts, scenes, masks) for a list of seeds.

    ``new_kinds``: the share of issue 37's scenes (see ``make_example``); 0 gives today's world exactly.
    """
    examples = [make_example(int(seed), face_fraction, new_kinds) for seed in seeds]
    if not examples:
        raise ValueError("make_batch needs at least one seed")
    images = torch.stack([ex.image for ex in examples])  # (B, 3, 64, 64)
    return images, [ex.prompt for ex in examples], [ex.scene for ex in examples], [ex.masks for ex in examples]
