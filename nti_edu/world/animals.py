"""Drawing a dog or a cat (issue 37): the same head, pose and size; they differ in identity cues only.

Both are a head seen from the front, filling the box of half-side h around (x, y) as a shape does:
  * a cat has pointed ears standing up, a small nose and whiskers;
  * a dog has floppy ears hanging beside its head and a snout with a big nose, and no whiskers.
Each animal is two layers (``render.animal_layers``): its body in its colour, its features in black.
"""
from __future__ import annotations


def _head(pen, x, y, h):
    pen.ellipse(x, y + 0.1 * h, 0.72 * h, 0.66 * h)


def cat_body(pen, x, y, h):
    _head(pen, x, y, h)
    for side in (-1, 1):  # pointed ears standing up on the head
        pen.polygon([(x + side * 0.72 * h, y - 0.05 * h), (x + side * 0.62 * h, y - h),
                     (x + side * 0.12 * h, y - 0.5 * h)])


def dog_body(pen, x, y, h):
    _head(pen, x, y, h)
    for side in (-1, 1):  # floppy ears hanging beside the head
        pen.ellipse(x + side * 0.78 * h, y + 0.05 * h, 0.24 * h, 0.6 * h)
    pen.ellipse(x, y + 0.55 * h, 0.36 * h, 0.3 * h)  # the snout, below the head's middle


def _eyes(pen, x, y, h):
    for side in (-1, 1):
        pen.ellipse(x + side * 0.3 * h, y - 0.05 * h, 0.1 * h, 0.12 * h)


def cat_features(pen, x, y, h):
    _eyes(pen, x, y, h)
    pen.polygon([(x - 0.1 * h, y + 0.25 * h), (x + 0.1 * h, y + 0.25 * h), (x, y + 0.37 * h)])  # small nose
    for side in (-1, 1):  # three whiskers a side, reaching past the head
        for dy in (-0.12, 0.0, 0.12):
            pen.line([(x + side * 0.18 * h, y + (0.38 + dy / 2) * h), (x + side * h, y + (0.3 + dy * 2) * h)],
                     width=0.07 * h)


def dog_features(pen, x, y, h):
    _eyes(pen, x, y, h)
    pen.ellipse(x, y + 0.42 * h, 0.17 * h, 0.12 * h)  # big nose on the snout
    pen.line([(x, y + 0.5 * h), (x, y + 0.7 * h)], width=0.07 * h)  # the line down to the mouth


ANIMAL_DRAWERS = {"cat": (cat_body, cat_features), "dog": (dog_body, dog_features)}  # animal -> (body, features)
