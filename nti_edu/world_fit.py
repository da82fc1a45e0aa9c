"""Is an image inside the embedded model's world? Its VAE round trip tells, in a tenth of a second (issue 35).

The embedded model has seen nothing but its synthetic world of shapes and faces, and its VAE, trained on that
world alone, cannot reproduce a photo: encoded and decoded, a held-out world image comes back at 23.8 dB PSNR or
better (1,024 held-out scenes: min 23.76, 1st percentile 25.05, median about 31.4; saved as JPEG at quality 75:
the same), a photo at 19 dB or worse (scikit-image's photos at 64x64: astronaut 15.8, chelsea the cat 17.0,
coffee 18.0, camera 16.9, rocket 16.4, coins 18.3, retina 18.3, cell 18.8). No inversion can do better than this
round trip, so below ``THRESHOLD_DB`` one note says the image is outside the model's world and what to use
instead. Measured by ``python -m nti_edu.world_fit`` (the numbers above: 2026-12, the shipped model). The one
photo above the threshold, Hubble's deep field (23.1 dB), is a black sky with small bright blobs, close to the
world's flat backgrounds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .metrics import psnr
from .models.loading import EMBEDDED_DIR, SD15_ID

THRESHOLD_DB = 21.0  # between the photos' highest (18.8 dB) and the world's lowest (23.8 dB) round trip
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
    return (f"{', '.join(outside)}: outside the embedded model's world. It knows only its synthetic shapes and "
            f"faces, and its VAE alone gives these images back at under {THRESHOLD_DB:g} dB PSNR (its own world: "
            f"24 dB or more), so no inversion or edit of them can be good. For your own photos use Stable "
            f"Diffusion on a GPU: {instead}")


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

    model = load_model("embedded")
    world = torch.cat([roundtrip_psnr(model, world_examples(1024, model.image_size)[0][k:k + 128])
                       for k in range(0, 1024, 128)])
    print(f"world, 1024 held-out: min {world.min():.2f}, 1st percentile {world.quantile(0.01):.2f}, "
          f"median {world.median():.2f} dB")
    for name in ("astronaut", "chelsea", "coffee", "camera", "rocket", "coins", "retina", "cell", "hubble_deep_field"):
        image = Image.fromarray(np.asarray(getattr(skimage.data, name)()))
        x = pil_to_tensor(square_resize(to_rgb(image), model.image_size))  # (1, 3, S, S)
        print(f"{name}: {roundtrip_psnr(model, x).item():.2f} dB")


if __name__ == "__main__":
    main()
