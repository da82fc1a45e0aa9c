"""The embedded model's synthetic world drawn with PIL, with prompts and masks: shapes, faces, dogs, cats.

    from nti_edu.world import make_example, parse_prompt, render
    ex = make_example(seed=0)          # ex.image (3, 64, 64), ex.prompt, ex.scene, ex.masks
    scene = parse_prompt("a small red circle at the top left on a blue background")
    image, masks = render(scene)       # PIL image, {"object": bool array, "background": ...}
"""
from .dataset import (FACE_FRACTION, HELDOUT_SEED_START, TRAIN_SEED_LIMIT, Example, heldout_seeds, make_batch,
                      make_example, train_seeds)
from .edits import (ALL_EDIT_KINDS, EDIT_KINDS, GROWN_EDIT_KINDS, REFINEMENT, WORD_SWAP, Edit, make_edit, random_edit,
                    render_edit)
from .parse import parse_prompt, vocabulary
from .render import render
from .scene import Scene, all_grown_scenes, all_scenes, count_prompts, edit_scene, random_grown_scene, random_scene
from .tokenizer import MODEL_MAX_LENGTH, build_tokenizer, save_tokenizer
from .vocabulary import (ANIMAL_COLOURS, ANIMAL_SIZES, ANIMALS, COLOURS, FACE_COLOURS, IMAGE_SIDE, PAINTING, POSITIONS,
                         SHAPES, SIZES, STYLES)

__all__ = [
    "Scene", "parse_prompt", "render", "random_scene", "edit_scene", "all_scenes", "count_prompts", "vocabulary",
    "Example", "make_example", "make_batch", "train_seeds", "heldout_seeds", "TRAIN_SEED_LIMIT",
    "HELDOUT_SEED_START", "FACE_FRACTION", "Edit", "EDIT_KINDS", "make_edit", "random_edit", "render_edit", "WORD_SWAP",
    "REFINEMENT", "build_tokenizer", "save_tokenizer", "MODEL_MAX_LENGTH", "COLOURS", "FACE_COLOURS",
    "SHAPES", "SIZES", "POSITIONS", "IMAGE_SIDE",
    # issue 37: animals and the painting style, drawn only by their own sampling path
    "ANIMALS", "ANIMAL_COLOURS", "ANIMAL_SIZES", "PAINTING", "STYLES", "GROWN_EDIT_KINDS", "ALL_EDIT_KINDS",
    "random_grown_scene", "all_grown_scenes",
]
