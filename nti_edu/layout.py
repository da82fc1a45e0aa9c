"""Does an edited image keep its source's layout? The SSIM of their coarse edge maps (issue 37's style edit).

A style such as the world's abstract painting changes every pixel, so PSNR says nothing about what it kept.
What it must keep is where things are: the outlines of the face, its sunglasses, the background's edge.
``edge_map`` blurs each colour channel (sigma 3 pixels: the painting's 8-pixel stroke period keeps 6 % of
its contrast, a face's 34-pixel outline nearly all) and takes the Sobel gradient's magnitude over the
three channels (colour edges: a face and a background of the same brightness still have one), scaled to
[0, 1] per image; ``layout_similarity`` is SSIM (Wang et al. 2004) between two such maps.

``LAYOUT_THRESHOLD`` was measured on pairs of drawings (``python benchmarks/grown_edits.py --layout``, 200
training-seed portraits): a plain portrait and its own painting scored 0.67 at least (5th percentile 0.75,
median 0.86); a plain portrait and another scene's painting 0.51 in the median, 0.75 at the 95th percentile.
0.7 lets through about 99 % of a drawing's own paintings and about 10 % of other scenes'.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .metrics import _gaussian_window, ssim

LAYOUT_SIGMA = 3.0  # pixels
LAYOUT_THRESHOLD = 0.7  # a painting keeps its drawing's layout at >= 0.7 (see the module docstring)
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """Coarse colour edges of images (B, 3, H, W) in [0, 1]: (B, 1, H, W) in [0, 1]."""
    size = 2 * round(3 * LAYOUT_SIGMA) + 1
    padded = F.pad(images.float(), [size // 2] * 4, mode="replicate")
    blurred = F.conv2d(padded, _gaussian_window(size, LAYOUT_SIGMA, 3), groups=3)  # (B, 3, H, W)
    blurred = F.pad(blurred, [1] * 4, mode="replicate")  # (B, 3, H + 2, W + 2)
    gx = F.conv2d(blurred, SOBEL_X.expand(3, 1, 3, 3).contiguous(), groups=3)  # (B, 3, H, W)
    gy = F.conv2d(blurred, SOBEL_X.t().expand(3, 1, 3, 3).contiguous(), groups=3)
    magnitude = (gx**2 + gy**2).sum(1, keepdim=True).sqrt()  # (B, 1, H, W)
    return magnitude / magnitude.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)


def layout_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM of the coarse edge maps of images a and b (B, 3, H, W) in [0, 1]: (B,), 1 for the same layout."""
    return ssim(edge_map(a), edge_map(b))
