"""Argument parsing: a parser whose errors are one line, and the value checks shared by the commands.

The checks here are the cheap ones that need no model (so ``--help`` and bad flags answer at once,
without importing torch); the model-dependent ones (the schedule's step limit, the tokenizer's
vocabulary and length) run right after the model is loaded, before any long work. Where the library
has the rule (``nti-edu invert``'s settings: ``NullTextConfig``, the inversions' own checks), the
argument is only parsed here, and checked once, by the library.
"""
from __future__ import annotations

import argparse
import math
import sys

from .errors import PROG, USAGE, one_line


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser that reports a usage error as one line, ``nti-edu: error: ...``, and exits 2."""

    def error(self, message: str):
        hint = f" (see `{self.prog} --help`)"
        sys.stderr.write(f"{PROG}: error: {one_line(message)}{hint}\n")
        raise SystemExit(USAGE)


def whole_number(text: str) -> int:
    """An integer, parsed only: the library checks its range (e.g. ``NullTextConfig``), once."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def number(text: str) -> float:
    """A number, parsed only ("nan" and "inf" parse): the library checks its range, once."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def step_count(text: str) -> int:
    """A number of DDIM steps: an integer >= 1 (the model's schedule sets the upper limit)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the number of steps must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the number of steps must be >= 1, got {value}")
    return value


def count(text: str) -> int:
    """A whole number >= 0 (e.g. inner iterations, 0 meaning none)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def positive_count(text: str) -> int:
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def guidance(text: str) -> float:
    """A classifier-free guidance weight w: a finite number >= 0 (1 = no guidance, 7.5 = SD's default)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"the guidance weight must be a finite number >= 0 (1 = no guidance, "
                                         f"7.5 = Stable Diffusion's default), got {text!r}")
    return value


def fraction(text: str) -> float:
    """A fraction of the sampling steps, in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction of the steps between 0 and 1, got {text!r}")
    return value


def listed(item_type, what: str):
    """A comma-separated list of values of ``item_type``, e.g. "2,5,10"; at least one, no repeats."""
    def parse(text: str) -> list:
        items = [item_type(part.strip()) for part in text.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}")
        if len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"the list of {what} {text!r} repeats a value")
        return items
    parse.__name__ = f"list of {what}"
    return parse


def word_scale(text: str) -> tuple[str, float]:
    """WORD=SCALE for re-weighting a word's cross-attention, e.g. red=2 (a finite scale)."""
    word, sep, scale = text.partition("=")
    try:
        value = float(scale)
    except ValueError:
        value = math.nan
    if not sep or not word.strip() or " " in word.strip() or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected WORD=SCALE with one word and a finite scale (e.g. red=2), "
                                         f"got {text!r}")
    return word.strip(), value
