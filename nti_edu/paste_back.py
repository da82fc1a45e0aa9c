"""Paste-back: after an edit, put the input image's own pixels back where the edit must change nothing.

Diffusion edits are made in the latent: even where the target branch keeps the source's latent, the
decoded pixels differ from the input's (the VAE round trip, and on a small VAE its latent's reach across
the image, ``benchmarks/vae_locality.md``). Blended Latent Diffusion (Avrahami et al., ACM TOG 2023,
"background reconstruction") therefore blends the decoded result with the input in pixel space, and
diffusers' inpainting pipelines do the same (``VaeImageProcessor.apply_overlay``):

    edited := edited + keep * (input - edited),        keep in [0, 1] per pixel

The region to keep comes from the source branch's cross-attention maps of the words that name it
(``word_map``), which are coarse (8 x 8 on the embedded model, 16 x 16 on Stable Diffusion). They are
sharpened on the input image by a two-class colour model, the unary term of GrabCut (Rother et al.,
SIGGRAPH 2004) without its graph cut (``colour_segment``): one Gaussian in RGB for the region, seeded where
its map is high, one for the rest, seeded where the map is low; each pixel goes to the likelier class,
the map adding log(p / (1 - p)) as a prior, and the two Gaussians are refitted a few times. That suits
objects whose colours differ from their surroundings (the embedded world's flat backgrounds); on
photographs a graph cut or a segmentation model would do better.

Which side is kept depends on the edit: a new background keeps the object (``keep_mask``), an edit of the
object itself (a new colour) keeps everything else (``keep_mask(..., outside=True)``). Something new (sunglasses
added to a face) is not in the input: its region comes from the target branch's maps of the new words,
sharpened on the edited image (``keep_mask(store, tokenizer, edited, target_prompt, words, outside=True,
branch=1)``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .p2p.blend import by_range, map_side, word_rows, words_map

SEED_LOW, SEED_HIGH = 0.2, 0.6  # the normalised map below / above which a pixel seeds the rest / the region


def paste_back(image: torch.Tensor, edited: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The edited images (B, 3, H, W) with the input ``image``'s pixels where ``keep`` (B, 1, H, W), in [0, 1]."""
    if image.shape != edited.shape or keep.shape != (image.shape[0], 1, *image.shape[-2:]):
        raise ValueError(f"paste_back needs image and edited of one shape (B, 3, H, W) and keep (B, 1, H, W); got "
                         f"{tuple(image.shape)}, {tuple(edited.shape)} and {tuple(keep.shape)}")
    keep = keep.to(edited)
    return edited + keep * (image.to(edited) - edited)  # (B, 3, H, W)


def word_map(store, tokenizer, prompt: str, words, size: tuple[int, int], side: int | None = None,
             branch: int = 0) -> torch.Tensor:
    """The cross-attention of ``words`` of ``prompt``, the prompt of ``branch`` of ``store`` (0: the source, 1:
    the target), normalised to [0, 1] and upsampled bilinearly to ``size``: (1, 1, H, W). ``side`` defaults to
    LocalBlend's (``map_side``)."""
    if branch not in (0, 1):
        raise ValueError(f"branch must be 0 (the source) or 1 (the target), got {branch!r}")
    side = map_side(store, store.latent_shape[-1]) if side is None else side
    maps = store.cross_attention(side)[branch:branch + 1]  # (1, s, s, L)
    alpha = word_rows(tokenizer, (prompt, prompt), (tuple(words), ()))[:1]  # (1, L)
    m = by_range(words_map(maps, alpha))  # (1, 1, s, s) in [0, 1]
    return F.interpolate(m, size=size, mode="bilinear", align_corners=False).clamp(0, 1)  # (1, 1, H, W)


def gaussian_log_likelihood(pixels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, Sigma) + const of every pixel (P, 3), the Gaussian fitted to the pixels weighted by (P,)."""
    weights = weights / weights.sum().clamp_min(1e-12)
    mu = (weights[:, None] * pixels).sum(0)  # (3,)
    d = pixels - mu  # (P, 3)
    cov = (weights[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0)  # (3, 3)
    cov = cov + 1e-4 * torch.eye(3, dtype=pixels.dtype)  # a floor: flat regions have ~0 variance
    mahalanobis = (d * torch.linalg.solve(cov, d.T).T).sum(1)  # (P,)
    return -0.5 * mahalanobis - 0.5 * torch.logdet(cov)  # (P,)


def colour_segment(image: torch.Tensor, prior: torch.Tensor, *, iterations: int = 5,
                   prior_weight: float = 1.0) -> torch.Tensor:
    """The region of ``prior`` (1, 1, H, W) in [0, 1], snapped to ``image`` (1, 3, H, W)'s colours: (1, 1, H, W) 0/1."""
    if prior.shape != (1, 1, *image.shape[-2:]) or image.shape[:2] != (1, 3):
        raise ValueError(f"colour_segment needs one image (1, 3, H, W) and its prior (1, 1, H, W); got "
                         f"{tuple(image.shape)} and {tuple(prior.shape)}")
    x = image[0].float().permute(1, 2, 0).reshape(-1, 3)  # (P, 3)
    p = prior.float().reshape(-1).clamp(1e-3, 1 - 1e-3)  # (P,)
    inside, outside = (p > SEED_HIGH).float(), (p < SEED_LOW).float()  # (P,) seeds
    if inside.sum() == 0 or outside.sum() == 0:
        return (p > 0.5).float().view_as(prior)  # a map with no contrast: nothing to fit
    log_prior = prior_weight * (p.log() - (1 - p).log())  # (P,)
    for _ in range(iterations):
        score = gaussian_log_likelihood(x, inside) - gaussian_log_likelihood(x, outside) + log_prior  # (P,)
        inside = (score > 0).float()
        outside = 1 - inside
        if inside.sum() == 0 or outside.sum() == 0:
            break
    return inside.view_as(prior)  # (1, 1, H, W)


def keep_mask(store, tokenizer, image: torch.Tensor, prompt: str, words, *, side: int | None = None,
              outside: bool = False, branch: int = 0) -> torch.Tensor:
    """The region of ``words`` in ``image`` (1, 3, H, W), for an edit whose attention ``store`` saw: the words'
    cross-attention map in ``branch`` (0: the source, whose prompt and input image to give; 1: the target, with
    its prompt and the edited image), sharpened on the image's colours; with ``outside``, the rest of the image
    instead (for edits of the words' object itself). (1, 1, H, W) of 0/1."""
    prior = word_map(store, tokenizer, prompt, words, tuple(image.shape[-2:]), side, branch)  # (1, 1, H, W)
    region = colour_segment(image, prior)  # (1, 1, H, W)
    return 1 - region if outside else region
