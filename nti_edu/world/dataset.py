"""Examples of the world, one per seed: the seed fixes the scene and its jitter.

Training draws seeds from [0, TRAIN_SEED_LIMIT); held-out evaluation uses seeds from
HELDOUT_SEED_START on, so no held-out image is ever a training image. (The prompts themselves do
repeat: the grammar has about 11,000 of them, and each is drawn many times with different jitter.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .render import render
from .scene import Scene, random_scene

TRAIN_SEED_LIMIT = 10**9
HELDOUT_SEED_START = 10**9
FACE_FRACTION = 0.25  # share of face scenes; the rest are shape scenes


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


def make_example(seed: int, face_fraction: float = FACE_FRACTION) -> Example:
    """The example for one seed (the same seed always gives the same example)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    scene = random_scene(rng, face_fraction)
    pil, masks = render(scene, rng)
    image = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)  # (3, 64, 64)
    return Example(image.contiguous(), scene.prompt(), scene, masks)


def make_batch(seeds: Sequence[int], face_fraction: float = FACE_FRACTION):
    """(images (B, 3, 64, 64) float32 in [0, 1], prompts, scenes, masks) for a list of seeds."""
    examples = [make_example(int(seed), face_fraction) for seed in seeds]
    if not examples:
        raise ValueError("make_batch needs at least one seed")
    images = torch.stack([ex.image for ex in examples])  # (B, 3, 64, 64)
    return images, [ex.prompt for ex in examples], [ex.scene for ex in examples], [ex.masks for ex in examples]
