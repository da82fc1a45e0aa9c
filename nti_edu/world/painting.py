"""The world's one style (issue 37), "an abstract painting of ...": the same drawing, repainted.

Three deterministic steps, none of which moves anything, so the layout stays that of the plain drawing:
  1. flat colour facets: each 4x4 cell is cut along a diagonal (alternating direction, like a
     chequerboard) into two triangles, each filled with its mean colour;
  2. brush-like strokes: bands 4 pixels wide along the anti-diagonal, alternately lighter and darker;
  3. dark outlines where neighbouring facets differ strongly in colour.
"""
from __future__ import annotations

import numpy as np

FACET = 4  # pixels: the side of the cells cut into two facets
STROKE_WIDTH = 4  # pixels, measured along a row
STROKE_GAIN = 0.16  # strokes are 16 % lighter or darker than the facet under them
OUTLINE_STEP = 60.0  # RGB distance between neighbouring facets that draws an outline
OUTLINE_SHADE = 0.45  # an outlined pixel keeps this share of its brightness


def facet_ids(side: int) -> np.ndarray:
    """(side, side) int: which facet each pixel belongs to (two per FACET x FACET cell)."""
    i, j = np.mgrid[0:side, 0:side]  # (side, side) each: row, column
    cell = (i // FACET) * (side // FACET) + j // FACET
    u, v = i % FACET, j % FACET
    flipped = (i // FACET + j // FACET) % 2 == 1
    lower = np.where(flipped, u + v >= FACET, u > v)  # which side of the cell's diagonal
    return 2 * cell + lower


def flat_facets(image: np.ndarray) -> np.ndarray:
    """Each facet filled with its mean colour: (H, W, 3) float -> (H, W, 3) float."""
    ids = facet_ids(image.shape[0]).ravel()  # (H*W,)
    sums = np.zeros((ids.max() + 1, 3))
    np.add.at(sums, ids, image.reshape(-1, 3))
    means = sums / np.bincount(ids)[:, None]  # (n_facets, 3)
    return means[ids].reshape(image.shape)


def strokes(side: int) -> np.ndarray:
    """(side, side, 1) brightness gain: bands along the anti-diagonal, alternately lighter and darker."""
    i, j = np.mgrid[0:side, 0:side]
    band = ((i + j) // STROKE_WIDTH) % 2
    return np.where(band == 0, 1 + STROKE_GAIN, 1 - STROKE_GAIN)[..., None]


def outlines(flat: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right or lower neighbour's facet differs by more than OUTLINE_STEP."""
    edge = np.zeros(flat.shape[:2], dtype=bool)
    edge[:, :-1] |= np.linalg.norm(flat[:, 1:] - flat[:, :-1], axis=-1) > OUTLINE_STEP
    edge[:-1, :] |= np.linalg.norm(flat[1:, :] - flat[:-1, :], axis=-1) > OUTLINE_STEP
    return edge


def paint(image: np.ndarray) -> np.ndarray:
    """The abstract painting of a drawing: (H, W, 3) uint8 -> (H, W, 3) uint8, the same layout."""
    flat = flat_facets(image.astype(np.float64))  # (H, W, 3)
    painted = flat * strokes(image.shape[0])  # (H, W, 3)
    painted[outlines(flat)] *= OUTLINE_SHADE
    return np.clip(np.round(painted), 0, 255).astype(np.uint8)
