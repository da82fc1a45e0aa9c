"""The world's fixed vocabulary: every attribute value a scene can take, and how it is drawn.

Images are 64x64. Sizes are the side of an object's bounding box in pixels; positions are the
centre of that box. Colours are chosen to be far apart, so that a slightly blurry image still
shows which one it is.
"""
from __future__ import annotations

IMAGE_SIDE = 64

COLOURS: dict[str, tuple[int, int, int]] = {  # name -> RGB
    "red": (220, 30, 30),
    "orange": (245, 130, 20),
    "yellow": (245, 220, 30),
    "green": (40, 165, 60),
    "blue": (40, 80, 225),
    "purple": (130, 50, 180),
    "pink": (245, 140, 195),
    "brown": (125, 75, 35),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
}

SHAPES = ("circle", "square", "triangle", "star", "heart", "diamond", "cross", "moon")

SIZES: dict[str, int] = {"small": 13, "medium": 20, "large": 28}  # bounding-box side in pixels

POSITIONS: dict[str, tuple[int, int]] = {  # name -> (x, y) of the object's centre
    "center": (32, 32),
    "top left": (17, 17),
    "top right": (47, 17),
    "bottom left": (17, 47),
    "bottom right": (47, 47),
}

FACE_COLOURS = ("yellow", "pink", "brown", "orange")  # skin tones of the drawn faces
SUNGLASSES_COLOUR = "black"
FEATURES_COLOUR = "black"  # eyes and mouth

SCENE_KINDS = ("shape", "face", "animal")  # "animal": issue 37's separate path

# ---- grown with issue 37 (the lecture's dog -> cat and portrait -> abstract painting) ------------------
# A separate sampling path draws these (``dataset.make_example(..., new_kinds=...)``); today's seeds never do.
ANIMALS = ("dog", "cat")
ANIMAL_COLOURS = tuple(c for c in COLOURS if c != "black")  # eyes, nose and whiskers are black
ANIMAL_SIZES = ("medium", "large")  # at 13 pixels ears and whiskers would be a pixel or two
PAINTING = "abstract painting"  # the style: "an abstract painting of a yellow face on a green background"
STYLES = (PAINTING,)
# the new words, in the order of their token ids, which follow today's (so the shipped ids never move)
GROWN_WORDS = ("dog", "cat", "abstract", "painting", "of")
