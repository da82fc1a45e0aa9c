"""Is an image inside the embedded model's world? Its VAE round trip tells, in a tenth of a second (issue 35).

The embedded model has seen nothing but its synthetic world (shapes and faces; since issue 37 also dogs, cats and
abstract paintings), and its VAE, trained on that world alone, cannot reproduce a photo: encoded and decoded, a
held-out scene of shapes and faces comes back at 23.6 dB PSNR or better (1,024 held-out scenes: min 23.61, 1st
percentile 25.00, median 31.34), one of the grown world at 20.7 dB or better (min 20.68, 1st percentile 21.02,
median 25.50: the paintings' facets and strokes are the hardest), a photo at 19.5 dB or worse (scikit-image's
photos at 64x64: astronaut 15.6, chelsea the cat 17.3, coffee 18.3, camera 17.3, rocket 16.7, coins 18.1, retina
18.2, cell 19.5). No inversion can do better than this round trip, so below ``THRESHOLD_DB`` one note says the
image is outside the model's world and what to use instead. Measured by ``python -m nti_edu.world_fit`` (the
numbers above: 2026-12-07, embedded@0.2.0). The one photo above the threshold, Hubble's deep field (23.2 dB), is
a black sky with small bright blobs, close to the world's flat backgrounds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .metrics import psnr
from .models.loading import EMBEDDED_DIR, SD15_ID

THRESHOLD_DB = 20.0  # between the photos' highest (19.5 dB) and the grown world's lowest (20.7 dB) round trip
CLI_INSTEAD = f"--model {SD15_ID} --device cuda"


def is_embedded(model) -> bool:
    """True for the embedded model, loaded by name ("embedded") or from its folder."""
    name = str(getattr(model, "name", ""))
    return name.startswith("embedded") or (name != "" and Path(name).resolve() == EMBEDDED_DIR.resolve())


def roundtrip_psnr(model, images: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR in dB of each image (B, 3, S, S) in [0, 1] against its VAE round trip (encode, decode)."""
    back = model.latent_to_image(model.image_to_latent(images))  # (B, 3, S, S)
    return psnr(back, images.to(back.device))  # (B,)


def outside_note(model, images: torch.Tensor, names: Sequence[str], instead: str = CLI_INSTEAD) -> str | None:
    """One note naming the images (B, 3, S, S) that lie outside the embedded model's world, and what to use
    instead (``instead``: how the caller picks Stable Diffusion); None when all are inside or the model is
    not the embedded one."""
    if not is_embedded(model):
        return None
    db = roundtrip_psnr(model, images).tolist()
    outside = [f"{name} ({value:.1f} dB)" for name, value in zip(names, db) if value < THRESHOLD_DB]
    if not outside:
        return None
    return (f"{', '.join(outside)}: outside the embedded model's world. It knows only its synthetic shapes, faces "
            f"and animals, and its VAE alone gives these images back at under {THRESHOLD_DB:g} dB PSNR (its own "
            f"world: above {THRESHOLD_DB:g} dB), so no inversion or edit of them can be good. For your own photos use "
            f"Stable Diffusion on a GPU: {instead}")


def say_if_outside(model, images, names, say=print, instead: str = CLI_INSTEAD) -> bool:
    """``say`` the one note of ``outside_note`` when there is one; True if it was said."""
    message = outside_note(model, images, names, instead)
    if message:
        say(message)
    return message is not None


def main() -> None:
    """Print the round trip of held-out world images and of scikit-image's photos (the module's numbers)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from .images import pil_to_tensor, square_resize, to_rgb
    from .lecture import world_examples
    from .models import load_model
    from .world import heldout_seeds, make_batch

    model = load_model("embedded")
    grown = make_batch(heldout_seeds(1024), new_kinds=1.0)[0]  # (1024, 3, 64, 64): dogs, cats, paintings
    for label, images in (("world", world_examples(1024, model.image_size)[0]), ("grown world", grown)):
        db = torch.cat([roundtrip_psnr(model, images[k:k + 128]) for k in range(0, 1024, 128)])  # (1024,)
        print(f"{label}, 1024 held-out: min {db.min():.2f}, 1st percentile {db.quantile(0.01):.2f}, "
              f"median {db.median():.2f} dB")
    for name in ("astronaut", "chelsea", "coffee", "camera", "rocket", "coins", "retina", "cell", "hubble_deep_field"):
        image = Image.fromarray(np.asarray(getattr(skimage.data, name)()))
        x = pil_to_tensor(square_resize(to_rgb(image), model.image_size))  # (1, 3, S, S)
        print(f"{name}: {roundtrip_psnr(model, x).item():.2f} dB")


if __name__ == "__main__":
    main()
