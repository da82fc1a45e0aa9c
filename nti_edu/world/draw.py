"""Drawing one object: a pen on a 4x canvas, the eight shapes, and the parts of a face.

Each object is drawn in white on black at 4x resolution, then averaged down to 64x64: the average
of each 4x4 block is the fraction of the pixel the object covers (its alpha), which gives clean
anti-aliased edges. ``render.py`` paints the objects over the background with these alphas.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .vocabulary import IMAGE_SIDE

SCALE = 4  # drawing resolution, in multiples of the image side


class Pen:
    """An ImageDraw on a 4x canvas that takes coordinates in 64x64 image pixels."""

    def __init__(self):
        side = IMAGE_SIDE * SCALE
        self.canvas = Image.new("L", (side, side), 0)
        self.draw = ImageDraw.Draw(self.canvas)

    def polygon(self, points, fill=255):
        self.draw.polygon([(x * SCALE, y * SCALE) for x, y in points], fill=fill)

    def ellipse(self, cx, cy, rx, ry, fill=255):
        self.draw.ellipse([(cx - rx) * SCALE, (cy - ry) * SCALE, (cx + rx) * SCALE, (cy + ry) * SCALE], fill=fill)

    def rectangle(self, x0, y0, x1, y1, fill=255):
        x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        self.draw.rectangle([x0 * SCALE, y0 * SCALE, x1 * SCALE, y1 * SCALE], fill=fill)

    def arc(self, cx, cy, rx, ry, start, end, width):
        box = [(cx - rx) * SCALE, (cy - ry) * SCALE, (cx + rx) * SCALE, (cy + ry) * SCALE]
        self.draw.arc(box, start, end, fill=255, width=round(width * SCALE))

    def line(self, points, width):
        self.draw.line([(x * SCALE, y * SCALE) for x, y in points], fill=255, width=round(width * SCALE))

    def coverage(self) -> np.ndarray:
        """The 4x drawing averaged down: (64, 64) float32 in [0, 1]."""
        small = self.canvas.resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BOX)
        return np.asarray(small, dtype=np.float32) / 255.0  # (64, 64)


# ---- shapes: each fills the box of half-side h around (x, y) ----------------------------------

def _star(pen, x, y, h):
    angles = [math.pi / 2 + k * math.pi / 5 for k in range(10)]  # outer and inner points alternate
    radii = [h if k % 2 == 0 else 0.45 * h for k in range(10)]
    pen.polygon([(x + r * math.cos(a), y - r * math.sin(a) + 0.1 * h) for a, r in zip(angles, radii)])


def _heart(pen, x, y, h):
    for side in (-1, 1):  # two lobes and a point
        pen.ellipse(x + side * 0.48 * h, y - 0.45 * h, 0.52 * h, 0.52 * h)
    pen.polygon([(x - 0.98 * h, y - 0.3 * h), (x + 0.98 * h, y - 0.3 * h), (x, y + h)])


def _cross(pen, x, y, h):
    pen.rectangle(x - h, y - 0.32 * h, x + h, y + 0.32 * h)
    pen.rectangle(x - 0.32 * h, y - h, x + 0.32 * h, y + h)


def _moon(pen, x, y, h):
    pen.ellipse(x, y, h, h)
    pen.ellipse(x + 0.55 * h, y - 0.25 * h, 0.8 * h, 0.8 * h, fill=0)  # bite out the inside


SHAPE_DRAWERS = {
    "circle": lambda pen, x, y, h: pen.ellipse(x, y, h, h),
    "square": lambda pen, x, y, h: pen.rectangle(x - 0.9 * h, y - 0.9 * h, x + 0.9 * h, y + 0.9 * h),
    "triangle": lambda pen, x, y, h: pen.polygon([(x, y - h), (x + h, y + 0.8 * h), (x - h, y + 0.8 * h)]),
    "star": _star,
    "heart": _heart,
    "diamond": lambda pen, x, y, h: pen.polygon([(x, y - h), (x + 0.75 * h, y), (x, y + h), (x - 0.75 * h, y)]),
    "cross": _cross,
    "moon": _moon,
}


# ---- face parts, around a face of radius r centred at (x, y) ------------------------------------

def face_disc(pen, x, y, r):
    pen.ellipse(x, y, r, r)


def face_features(pen, x, y, r):
    for side in (-1, 1):
        pen.ellipse(x + side * 0.38 * r, y - 0.15 * r, 0.12 * r, 0.12 * r)  # eyes
    pen.arc(x, y + 0.15 * r, 0.45 * r, 0.35 * r, 20, 160, width=0.1 * r)  # smiling mouth


def sunglasses(pen, x, y, r):
    for side in (-1, 1):
        pen.ellipse(x + side * 0.38 * r, y - 0.15 * r, 0.32 * r, 0.24 * r)  # lenses over the eyes
        pen.rectangle(x + side * 0.65 * r, y - 0.22 * r, x + side * 0.97 * r, y - 0.14 * r)  # arms
    pen.rectangle(x - 0.12 * r, y - 0.24 * r, x + 0.12 * r, y - 0.14 * r)  # bridge


def hat(pen, x, y, r):
    brim = y - 0.55 * r
    pen.rectangle(x - 1.2 * r, brim - 0.18 * r, x + 1.2 * r, brim)
    pen.rectangle(x - 0.7 * r, brim - 0.95 * r, x + 0.7 * r, brim)  # crown
