"""The reconstruction driver: named inversion methods -> PSNR of each image's reconstruction.

A method is ``fn(model, images, prompts, steps) -> (reconstructions (B, 3, H, W), notes dict)``; ``METHODS``
holds the report's (Mokady et al. 2023, sec. 4: DDIM inversion at w = 1 and at 7.5, null-text inversion,
and the later methods that optimise nothing). Pass your own dict to ``reconstruction`` to compare others.
"""
from __future__ import annotations

from ..alternatives import direct_inversion, negative_prompt_inversion
from ..fast import fast_null_text_inversion
from ..inversion import invert
from ..metrics import psnr
from ..null_text import null_text_inversion
from ..reconstruction import reconstruct
from .edits import NULL_TEXT, W
from .scenes import timed

CEILING, NULL_TEXT_METHOD = "VAE round trip (the ceiling)", "null-text inversion (nti_edu.null_text)"


def vae_round_trip(model, images, prompts, steps):
    return model.latent_to_image(model.image_to_latent(images)), {}


def ddim_same_w(model, images, prompts, steps):
    return reconstruct(model, invert(model, images, prompts, num_steps=steps, w=W)), {}


def ddim_w1_sampled_at_w(model, images, prompts, steps):
    return reconstruct(model, invert(model, images, prompts, num_steps=steps, w=1.0), w=W), {}


def null_text(model, images, prompts, steps, fn=null_text_inversion):
    result = fn(model, images, prompts, num_steps=steps, w=W, progress=True, **NULL_TEXT)
    iterations = sum(len(h) for h in result.losses) / len(result.losses)  # the batch's longest, per step
    return reconstruct(model, result), {"iterations per step": iterations}


def fast_null_text(model, images, prompts, steps):
    return null_text(model, images, prompts, steps, fn=fast_null_text_inversion)


def negative_prompt(model, images, prompts, steps):
    return reconstruct(model, negative_prompt_inversion(model, images, prompts, num_steps=steps, w=W)), {}


def direct(model, images, prompts, steps):
    return reconstruct(model, direct_inversion(model, images, prompts, num_steps=steps, w=W)), {}


METHODS = {CEILING: vae_round_trip,
           "DDIM inversion at w = 7.5, sampled at 7.5": ddim_same_w,
           "DDIM inversion at w = 1, sampled at 7.5": ddim_w1_sampled_at_w,
           NULL_TEXT_METHOD: null_text,
           "null-text inversion, fast path (nti_edu.fast)": fast_null_text,
           "negative-prompt inversion": negative_prompt,
           "direct inversion (PnP Inversion)": direct}


def reconstruction(model, images, prompts, steps: int, methods: dict = METHODS, log=print) -> dict:
    """Each method on the whole batch: name -> {"psnr": (B,), "seconds", "images", **notes}."""
    rows = {}
    for name, fn in methods.items():
        (recon, notes), seconds = timed(fn, model, images, prompts, steps)
        rows[name] = {"psnr": psnr(recon, images), "seconds": seconds, "images": recon, **notes}
        log(f"  {name}: {rows[name]['psnr'].mean():.2f} dB, {seconds:.1f} s")
    return rows
