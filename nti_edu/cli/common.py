"""What the commands share: loading the model, reading the input image (saying what was converted),
checking steps and prompts against the model, and writing images.

Imports of torch and the models happen inside the functions, so that ``nti-edu --help`` is quick.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import CliError

IMAGE_RULES = (
    "Input images: any file PIL can read. Grayscale, palette, RGBA/LA (composited over white), CMYK and "
    "16-bit images are converted to 8-bit RGB, never refused. The largest centred square is cropped and "
    "resized to the model's side (64 pixels for the embedded model; Lanczos when shrinking, bicubic when "
    "enlarging), so very large images are fine up to PIL's decompression-bomb limit; images with a side "
    "under {min_side} pixels are refused. A note on stderr says what was changed; input.png shows what "
    "was used.")
MIN_SIDE_TEXT = "16"  # nti_edu.images.MIN_SIDE, written out so that --help needs no torch (a test checks it)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="embedded", metavar="embedded|HUB_ID|PATH",
                        help="the model: 'embedded' (default; offline), a Hugging Face hub id such as "
                             "stable-diffusion-v1-5/stable-diffusion-v1-5, or a folder in Stable Diffusion's layout")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="where to run (default: cuda if available, else cpu)")


def pick_device(device: str | None) -> str:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda was given but no CUDA device is available here; use --device cpu")
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def model_source(model: str) -> str:
    """A local folder as its absolute path (so an inversion's fingerprint names it the same from anywhere);
    a CliError for something that looks like a path ("./x", "/x", "~/x", "a/b/c") but is not a folder."""
    if model == "embedded":
        return model
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if model.startswith((".", "/", "~")) or model.count("/") > 1 or path.exists():
        raise CliError(f"--model {model}: no such model folder (expected a folder in Stable Diffusion's layout: "
                       "unet/, vae/, text_encoder/, tokenizer/, scheduler/), nor 'embedded' or a hub id such as "
                       "stable-diffusion-v1-5/stable-diffusion-v1-5")
    return model


def load(args):
    """The model named by --model on --device, float32 (without the libraries' loading bars)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from ..models import load_model

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    return load_model(model_source(args.model), device=pick_device(args.device))


def check_steps(model, num_steps: int) -> int:
    """A step count checked against the model's schedule before any long work (``nti-edu sweep``'s lists);
    a CliError that names --steps."""
    try:
        return model.schedule.check_steps(num_steps)
    except ValueError as err:
        raise CliError(f"--steps {num_steps}: {err}") from None


def check_prompt(model, prompt: str) -> str:
    """Encode the prompt once, so that unknown words and over-long prompts fail before any long work."""
    if not prompt.strip():
        raise CliError("the prompt is empty; describe the image, e.g. --prompt 'a red circle on a blue background'")
    model.encode_prompt(prompt)
    return prompt


def note(message: str) -> None:
    print(f"nti-edu: note: {message}", file=sys.stderr)


def open_rgb(path: str):
    """Open and decode an image file and convert it to 8-bit RGB (``nti_edu.images``'s rule), with a note."""
    from ..images import open_image, to_rgb

    img = open_image(path)
    if img.mode != "RGB":
        note(f"{path}: converted from mode {img.mode!r} to 8-bit RGB (see --help for the rule)")
    return to_rgb(img)


def fit_to_model(img, side: int, path: str):
    """Crop the centred square and resize to side x side, with a note; a (1, 3, side, side) tensor."""
    from ..images import pil_to_tensor, square_resize

    w, h = img.size
    out = square_resize(img, side)
    if (w, h) != (side, side):
        s = min(w, h)
        crop = f"cropped the centred {s}x{s} square, " if w != h else ""
        note(f"{path}: {w}x{h} pixels; {crop}resized to the model's {side}x{side}")
    return pil_to_tensor(out)


def save_png(image, path: Path) -> Path:
    """Write a (1, 3, H, W) or (3, H, W) tensor in [0, 1] as an 8-bit RGB PNG."""
    from ..images import tensor_to_pil

    tensor_to_pil(image.cpu()).save(path, format="PNG")
    return path


def quality(recon, target) -> dict:
    """PSNR (dB) and SSIM of a reconstruction against its input, both (1, 3, H, W) in [0, 1]."""
    from ..metrics import psnr, ssim

    recon, target = recon.float().cpu(), target.float().cpu()
    out = {"psnr_db": round(psnr(recon, target).item(), 3)}
    if min(recon.shape[-2:]) >= 11:  # SSIM's 11 x 11 window
        out["ssim"] = round(ssim(recon, target).item(), 4)
    return out


def progress_bars(args) -> bool:
    return not getattr(args, "quiet", False)
