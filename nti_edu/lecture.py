"""Setting up a lecture notebook: which model, and which images.

One switch at the top of every notebook picks the model, and the same cells then run for both:

* ``"embedded"`` (default): the small model shipped inside nti_edu; runs on a CPU, downloads nothing.
  The images are held-out examples of its synthetic world (never seen in training), with their prompts.
* ``"sd15"``: Stable Diffusion 1.5 (``nti_edu.models.SD15_ID``), downloaded from the Hugging Face hub on
  first use (about 4 GB; meant for a GPU, e.g. on Colab). The images are files or URLs you give, each
  with a prompt that describes it and, for the editing notebooks, an edited prompt:
  ``MY_IMAGES = [("path/or/url.jpg", "a cat sitting next to a mirror", "a tiger sitting next to a mirror")]``.

When the environment variable ``NTI_EDU_MODEL`` holds a model folder, it replaces the switch's model and
nothing else: ``"embedded"`` keeps the world's images, ``"sd15"`` takes MY_IMAGES (the tests execute the
notebooks this way with tiny random models and with the SD-1.5 stand-in of ``nti_edu.testing``).
``NTI_EDU_DTYPE`` (``float32``, ``float16``, ``bfloat16``) overrides the dtype the device would pick
(``nti_edu.models.auto_dtype``); the GPU session runs the notebooks in both half precisions this way.
"""
from __future__ import annotations

import hashlib
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .images import load_image, resize_to
from .models import load_model
from .models.loading import EMBEDDED, SD15_ID
from .world import heldout_seeds, make_edit, make_example, parse_prompt
from .world_fit import say_if_outside

MODEL_CHOICES = {"embedded": EMBEDDED, "sd15": SD15_ID}
ENV_MODEL = "NTI_EDU_MODEL"
ENV_DTYPE = "NTI_EDU_DTYPE"
DTYPES = {"auto": "auto", "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
IMAGE_CACHE = Path.home() / ".cache" / "nti_edu" / "images"
NOTEBOOK_INSTEAD = 'MODEL = "sd15" (on Colab: Runtime > Change runtime type > GPU)'


def check_choice(choice: str) -> str:
    if choice not in MODEL_CHOICES:
        raise ValueError(f"MODEL must be one of {sorted(MODEL_CHOICES)}, got {choice!r}")
    return choice


def model_source(choice: str) -> str:
    """The folder or hub id to load for ``choice``: ``$NTI_EDU_MODEL`` if set, else the choice's model."""
    return os.environ.get(ENV_MODEL) or MODEL_CHOICES[check_choice(choice)]


def model_dtype():
    """``$NTI_EDU_DTYPE`` as a torch dtype, or ``"auto"`` when it is unset (the device's choice)."""
    name = os.environ.get(ENV_DTYPE) or "auto"
    if name not in DTYPES:
        raise ValueError(f"{ENV_DTYPE} must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


def load(choice: str = "embedded"):
    """The model for ``choice``, on the GPU when there is one, in the dtype the device suits (float32 on the CPU,
    float16 on a T4, bfloat16 on Ampere and later: ``nti_edu.models.auto_dtype``) unless ``$NTI_EDU_DTYPE``
    says otherwise. The null embeddings, latents and losses stay float32 whatever the UNet computes in."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()  # no "Loading weights" bars in the notebooks
    transformers_logging.disable_progress_bar()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(model_source(choice), device=device, dtype=model_dtype())
    dtype = str(model.dtype).removeprefix("torch.")
    print(f"model: {model.name} on {device} in {dtype}; images {model.image_size}x{model.image_size}, "
          f"latents {tuple(model.latent_shape)}")
    return model


def world_examples(n: int, image_size: int, where: Callable | None = None, start: int = 0):
    """(images (n, 3, S, S), prompts, scenes): the first ``n`` held-out world examples whose scene passes
    ``where`` (every scene if None), resized to side S when the model's side differs from the world's."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    picked = []
    for seed in heldout_seeds(200 * n, start):
        example = make_example(seed)
        if where is None or where(example.scene):
            picked.append(example)
        if len(picked) == n:
            break
    if len(picked) < n:
        raise ValueError(f"found only {len(picked)} held-out examples that pass `where` among {200 * n} seeds")
    images = resize_to(torch.stack([ex.image for ex in picked]), image_size)  # (n, 3, S, S)
    return images, [ex.prompt for ex in picked], [ex.scene for ex in picked]


def fetch(path_or_url: str) -> Path:
    """A local path as it is; an http(s) URL downloaded once into ``IMAGE_CACHE`` (two URLs that end in the
    same file name are kept apart)."""
    if not urllib.parse.urlparse(str(path_or_url)).scheme.startswith("http"):
        return Path(path_or_url)
    target = cached_path(path_or_url)
    if not target.is_file():
        IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(path_or_url, target)
    return target


def cached_path(url: str) -> Path:
    """Where ``fetch`` keeps the download of ``url``: one file per URL, named after its last path part."""
    name = Path(urllib.parse.urlparse(url).path).name or "image"
    return IMAGE_CACHE / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"


def user_examples(user_images: Sequence[tuple], n: int, image_size: int):
    """(images (k, 3, S, S), prompts) from the first ``n`` (path or URL, prompt[, edited prompt]) entries."""
    if not user_images:
        raise ValueError("with MODEL = 'sd15' give your images: MY_IMAGES = [('path/or/url.jpg', 'a prompt "
                         "that describes it', 'the prompt edited'), ...]")
    entries = list(user_images)[:n]
    images = torch.cat([load_image(fetch(entry[0]), image_size) for entry in entries])  # (k, 3, S, S)
    return images, [entry[1] for entry in entries]


def uses_world(choice: str) -> bool:
    """True when the notebook's images and prompts come from the synthetic world (not from MY_IMAGES): for every
    choice but ``"sd15"``, whichever model ``NTI_EDU_MODEL`` loads."""
    return check_choice(choice) != "sd15"


def edit_applies(kind: str) -> Callable:
    """A ``where`` for world scenes: does the edit ``kind`` (a key of ``nti_edu.world.EDIT_KINDS``) apply?"""

    def applies(scene) -> bool:
        try:
            make_edit(kind, scene)
        except ValueError:
            return False
        return True

    return applies


def examples(choice: str, model, n: int = 4, user_images: Sequence[tuple] = (), edit: str | None = None):
    """(images, prompts) for a notebook: held-out world examples for the embedded model (with ``edit``,
    only scenes that edit applies to), the first ``n`` of MY_IMAGES for Stable Diffusion; the images
    are on the model's device."""
    if not uses_world(choice):
        images, prompts = user_examples(user_images, n, model.image_size)
        say_if_outside(model, images, [entry[0] for entry in user_images], instead=NOTEBOOK_INSTEAD)
    else:
        images, prompts, _ = world_examples(n, model.image_size, edit_applies(edit) if edit else None)
    return images.to(model.device), prompts


def edit_targets(choice: str, prompts: Sequence[str], kind: str, user_images: Sequence[tuple] = ()) -> list[str]:
    """The edited prompt of each source prompt: the world's edit ``kind`` (a fixed seed picks e.g. the new
    colour), or the third element of each MY_IMAGES entry for Stable Diffusion."""
    if not uses_world(choice):
        if any(len(entry) < 3 for entry in user_images[: len(prompts)]):
            raise ValueError("give each MY_IMAGES entry an edited prompt: (path or URL, prompt, edited prompt)")
        return [entry[2] for entry in user_images[: len(prompts)]]
    return [make_edit(kind, parse_prompt(p), np.random.default_rng(k)).target_prompt for k, p in enumerate(prompts)]


def kept_words(choice: str, prompt: str, user_words: Sequence[str] = ()) -> list[str]:
    """The words of ``prompt`` that name its object (what a new background keeps, what a new colour changes): the
    world's object for the embedded model, ``user_words`` (e.g. MY_KEEP_WORDS) for Stable Diffusion, each checked
    to be in the prompt."""
    if uses_world(choice):
        return list(parse_prompt(prompt).object_words())
    missing = [w for w in user_words if w.lower() not in prompt.lower().split()]
    if not user_words or missing:
        raise ValueError(f"give MY_KEEP_WORDS, words of the prompt {prompt!r} that name what to keep"
                         + (f"; not in it: {', '.join(missing)}" if missing else ""))
    return list(user_words)


def evaluator(choice: str):
    """The world's attribute evaluator (this world's CLIP score), or None where the images are not the world's."""
    if not uses_world(choice):
        return None
    from .evaluator import load_evaluator

    return load_evaluator()
