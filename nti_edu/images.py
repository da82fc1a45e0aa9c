"""Images in and out: files to (1, 3, S, S) tensors in [0, 1] and back, with documented rules.

Conversion rule (any PIL mode becomes 8-bit RGB):
  * 16-bit and 32-bit grayscale ("I;16", "I", "F") are scaled from their full range to 0..255;
  * grayscale ("L", "1") is copied to the three channels;
  * palette images ("P") are expanded to their colours;
  * transparency ("RGBA", "LA", "P" with a transparent colour) is composited over white;
  * CMYK and other colour spaces go through PIL's conversion to RGB.
Size rule: the largest centred square is cropped, then resized to the model's side S (Lanczos when
shrinking, bicubic when enlarging). Sides under ``MIN_SIDE`` pixels are refused, and so are images
over PIL's decompression-bomb limit.

Damaged files (empty, cut short, another kind of file, flipped bits that break a PNG's checksums) are
an ``ImageError`` naming the file. A JPEG has no checksum: flipped bits in its data decode as other
pixels and cannot be told from an image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

MIN_SIDE = 16


class ImageError(ValueError):
    """A file that cannot be used as an image; the message says why."""


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file, or raise ImageError / FileNotFoundError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes), not an image")
    try:
        with Image.open(path) as img:
            img.load()  # decode now, so that truncated files fail here
            return img.copy()
    except UnidentifiedImageError as err:
        raise ImageError(f"{path} is not an image file PIL can read") from err
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path} is too large to decode safely ({err})") from err
    except PermissionError:
        raise  # the CLI reports it as "PATH: Permission denied"
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path} could not be decoded (truncated or corrupt?): {err}") from err


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB by the rule in this module's docstring."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode != "F" else max(float(arr.max()), 1.0)
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def square_resize(img: Image.Image, side: int) -> Image.Image:
    """Crop the largest centred square, then resize it to side x side."""
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"image is {w}x{h} pixels; each side must be at least {MIN_SIDE}")
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = img.crop((left, top, left + s, top + s))
    method = Image.Resampling.LANCZOS if s > side else Image.Resampling.BICUBIC
    return img.resize((side, side), method) if s != side else img


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB PIL image to a (1, 3, H, W) float32 tensor in [0, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()  # (1, 3, H, W)


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] to an RGB PIL image."""
    if image.ndim == 4:
        image = image[0]
    arr = (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()  # (H, W, 3)
    return Image.fromarray(arr, mode="RGB")


def resize_to(images: torch.Tensor, side: int) -> torch.Tensor:
    """Square images (B, 3, H, H) in [0, 1] at side ``side`` (antialiased bilinear; unchanged if H is side), e.g.
    the world's 64-pixel drawings for a model of another size."""
    if images.shape[-1] == side:
        return images
    return torch.nn.functional.interpolate(images, size=(side, side), mode="bilinear", antialias=True).clamp(0, 1)


def load_image(path: str | Path, side: int) -> torch.Tensor:
    """Read an image file and apply the conversion and size rules: (1, 3, side, side) in [0, 1]."""
    return pil_to_tensor(square_resize(to_rgb(open_image(path)), side))
