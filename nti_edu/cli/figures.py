"""The command line's figures, drawn with matplotlib's object API (no pyplot, no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _hwc(image) -> np.ndarray:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] as an (H, W, 3) array for imshow."""
    image = image[0] if image.ndim == 4 else image
    return image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def image_grid(rows: list[list[tuple[object, str]]], path: Path, title: str = "") -> Path:
    """A grid of images, one row per input; each cell is (image tensor, title). Saved as PNG."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = _figure(2.1 * n_cols, 2.3 * n_rows + (0.3 if title else 0))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_axis_off()
            if c < len(row):
                image, label = row[c]
                ax.imshow(_hwc(image), interpolation="nearest")
                ax.set_title(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png")
    return path


def heatmaps(steps: list[int], weights: list[float], panels: list[tuple[np.ndarray, str, str]], path: Path,
             title: str = "") -> Path:
    """Side-by-side heatmaps over (steps x guidance weight), each cell annotated; panels: (values, label, cmap)."""
    fig = _figure(3.6 * len(panels), 0.45 * len(steps) + 1.8)
    for ax, (values, label, cmap) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        im = ax.imshow(values, cmap=cmap, aspect="auto")
        ax.set_xticks(range(len(weights)), [f"{w:g}" for w in weights])
        ax.set_yticks(range(len(steps)), [str(s) for s in steps])
        ax.set_xlabel("guidance weight w (inversion and sampling)")
        ax.set_ylabel("DDIM steps")
        ax.set_title(label, fontsize=9)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7, color="white",
                    bbox={"facecolor": "black", "alpha": 0.35, "pad": 1, "linewidth": 0})
        fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png")
    return path
