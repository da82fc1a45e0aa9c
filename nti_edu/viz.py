"""Figures for the lecture notebooks: image grids, trajectories, drift curves, loss curves, heatmaps.

Every function draws with matplotlib and returns its Figure (or fills a given Axes and returns it),
so that notebooks end the cell with ``plt.show()`` and tests can read the drawn data back. Images are
tensors in [0, 1], (B, 3, H, W) or (3, H, W), as everywhere in nti_edu.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

PANEL = 1.7  # inches per image panel
TITLE_WIDTH = 26  # characters per line of a panel's title


def to_hwc(image) -> np.ndarray:
    """One image, a (3, H, W) or (1, 3, H, W) tensor in [0, 1], as an (H, W, 3) float array for imshow."""
    if torch.is_tensor(image):
        if image.ndim == 4 and image.shape[0] == 1:
            image = image[0]
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"expected one image of shape (3, H, W), got {tuple(image.shape)}")
        image = image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()  # (H, W, 3)
    return np.asarray(image)


def show_image(ax, image, title: str | None = None):
    """Draw one image on ``ax`` with no ticks; returns the AxesImage."""
    shown = ax.imshow(to_hwc(image), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(textwrap.fill(title, TITLE_WIDTH), fontsize=7)
    return shown


def image_grid(images, titles: Sequence[str] | None = None, ncols: int | None = None, suptitle: str | None = None):
    """A grid of images: a (B, 3, H, W) tensor or a list of (3, H, W) ones, ``ncols`` per row (default all)."""
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images; give one per image or none")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL * ncols, PANEL * nrows + 0.3 * bool(suptitle)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < len(images):
            show_image(ax, images[k], titles[k] if titles is not None else None)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def image_rows(rows: dict, col_titles: Sequence[str] | None = None, size: float = 1.3):
    """One row of images per entry of ``rows`` ({row label: (B, 3, H, W)}), the label on the left;
    ``size`` inches per panel."""
    if not rows:
        raise ValueError("image_rows needs at least one row")
    labels, ncols = list(rows), len(rows[next(iter(rows))])
    fig, axes = plt.subplots(len(labels), ncols, figsize=(size * ncols + 0.6, size * len(labels)), squeeze=False)
    for r, label in enumerate(labels):
        if len(rows[label]) != ncols:
            raise ValueError(f"row {label!r} has {len(rows[label])} images, the first row {ncols}; rows must match")
        for c in range(ncols):
            show_image(axes[r, c], rows[label][c], col_titles[c] if r == 0 and col_titles else None)
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    return fig


def plot_schedule(schedule, num_steps: int | None = None, ax=None):
    """alpha_bar_t and 1 - alpha_bar_t over t; with ``num_steps``, dots at the inference timesteps."""
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    t = np.arange(schedule.num_train_timesteps)
    ax.plot(t, schedule.alpha_bar.numpy(), label=r"$\bar\alpha_t$ (signal)")
    ax.plot(t, 1 - schedule.alpha_bar.numpy(), label=r"$1-\bar\alpha_t$ (noise)")
    if num_steps is not None:
        steps = schedule.timesteps(num_steps).numpy()
        ax.plot(steps, schedule.alpha_bar[steps].numpy(), "k.", label=f"{num_steps} DDIM steps")
    ax.set_xlabel("timestep t")
    ax.legend(fontsize=8)
    return ax


def trajectory_strip(model, latents: Sequence[torch.Tensor], *, num_shown: int = 6, image: int = 0,
                     labels: Sequence[str] | None = None, title: str | None = None):
    """Decode ``num_shown`` evenly spaced latents of a trajectory (each (B, C, h, w)) for one image."""
    if len(latents) < 2:
        raise ValueError("a trajectory needs at least two latents")
    picks = np.unique(np.linspace(0, len(latents) - 1, min(num_shown, len(latents))).round().astype(int))
    batch = torch.cat([latents[k][image:image + 1] for k in picks])  # (K, C, h, w)
    titles = [labels[k] for k in picks] if labels is not None else [f"latent {k}" for k in picks]
    return image_grid(model.latent_to_image(batch), titles, suptitle=title)


def drift_levels(drift: torch.Tensor) -> np.ndarray:
    """The x axis for a drift curve: the level i / N from x_0 (0) to x_T (1), (N + 1,)."""
    return np.linspace(0, 1, drift.shape[0])


def plot_drift(drifts: dict, ax=None, highlight=None):
    """Drift curves, {label: (N + 1, B) RMS distance per level, noisiest first}, averaged over images.

    x is the fraction of the way from x_0 to x_T, so that curves of different step counts line up.
    ``highlight`` draws that label bold and the others faint.
    """
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    for label, drift in drifts.items():
        faint = highlight is not None and label != highlight
        mean = drift.float().mean(1).flip(0).cpu().numpy()  # (N + 1,) cleanest level first, as the x axis runs
        ax.plot(drift_levels(drift), mean, marker="." if drift.shape[0] < 30 else None,
                label=str(label), alpha=0.3 if faint else 1.0, linewidth=2.5 if label == highlight else 1.5)
    ax.set_xlabel(r"level: $x_0$ (0) to $x_T$ (1)")
    ax.set_ylabel("drift (latent RMS)")
    ax.legend(fontsize=8)
    return ax


def sweep_figure(sweep, steps: int, w_invert: float, w_sample: float, image: int = 0):
    """Input, reconstruction and drift curves of one point of a ``nti_edu.sweeps.Sweep``; the other step
    counts' curves (same weights) faint. The sweep dashboard's figure."""
    point = sweep.get(steps, w_invert, w_sample)
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), gridspec_kw={"width_ratios": [1, 1, 2.2]})
    show_image(axes[0], sweep.images[image], "input")
    show_image(axes[1], point.recon[image], f"{steps} steps: {point.psnr[image].item():.1f} dB")
    drifts = {s: p.drift[:, image:image + 1] for (s, wi, ws), p in sorted(sweep.points.items())
              if (wi, ws) == (float(w_invert), float(w_sample))}
    plot_drift(drifts, axes[2], highlight=steps)
    axes[2].set_title(f"inverted at w = {w_invert:g}, sampled at w = {w_sample:g}", fontsize=9)
    fig.tight_layout()
    return fig


def null_text_panels(image, plain, tuned, result):
    """Input (1, 3, H, W), plain DDIM inversion re-sampled at the result's w, the null-text reconstruction
    (each (1, 3, H, W)) with their PSNR, and the result's loss curves. The null-text dashboard's figure."""
    from .metrics import psnr

    fig, axes = plt.subplots(1, 4, figsize=(11, 2.8), gridspec_kw={"width_ratios": [1, 1, 1, 2.4]})
    show_image(axes[0], image[0], "input")
    show_image(axes[1], plain[0], f"DDIM inv., w={result.w:g}: {psnr(plain, image).item():.1f} dB")
    show_image(axes[2], tuned[0], f"null-text: {psnr(tuned, image).item():.1f} dB")
    plot_losses(result.losses, axes[3])
    axes[3].set_title(f"{result.seconds:.1f} s", fontsize=9)
    fig.tight_layout()
    return fig


def plot_curve(values: dict, ax=None, xlabel: str = "", ylabel: str = "", log_x: bool = False, label=None):
    """A line through {x: y} points in x order, with dots."""
    ax = ax or plt.subplots(figsize=(4, 3))[1]
    xs = sorted(values)
    ax.plot(xs, [values[x] for x in xs], "o-", label=label)
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def heatmap(values, row_labels: Sequence, col_labels: Sequence, ax=None, *, fmt: str = "{:.1f}",
            xlabel: str = "", ylabel: str = "", title: str = "", cmap: str = "viridis"):
    """A (rows, cols) array drawn as coloured cells with each value written in."""
    values = np.asarray(values, dtype=float)
    if values.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"values are {values.shape}, labels {len(row_labels)} x {len(col_labels)}; they must match")
    ax = ax or plt.subplots(figsize=(1 + 0.9 * len(col_labels), 0.8 + 0.6 * len(row_labels)))[1]
    ax.imshow(values, cmap=cmap)
    middle = (np.nanmax(values) + np.nanmin(values)) / 2
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8, color="black" if v > middle else "white")
    ax.set_xticks(range(len(col_labels)), [str(c) for c in col_labels])
    ax.set_yticks(range(len(row_labels)), [str(r) for r in row_labels])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return ax


def plot_losses(histories: Sequence[Sequence[float]], ax=None, thresholds: Sequence[float] | None = None):
    """Null-text inversion's loss, every inner iteration of every step laid end to end (log scale).

    histories[i] holds step i's losses; a dashed line marks each step's early-stop threshold if given.
    """
    ax = ax or plt.subplots(figsize=(6, 3))[1]
    start = 0
    for i, losses in enumerate(histories):
        xs = np.arange(start, start + len(losses))
        ax.plot(xs, losses, color=plt.cm.viridis(i / max(len(histories) - 1, 1)), linewidth=1)
        if thresholds is not None and len(losses):
            ax.hlines(thresholds[i], xs[0], xs[-1] + 1, colors="grey", linestyles="dashed", linewidth=0.8)
        start += max(len(losses), 1)
    ax.set_yscale("log")
    ax.set_xlabel("inner iteration (steps laid end to end, noisiest first)")
    ax.set_ylabel("pivotal loss")
    return ax


def embedding_change(emb_nulls: Sequence[torch.Tensor], emb_null: torch.Tensor, image: int = 0) -> np.ndarray:
    """||emb_null_t - emb_null|| / ||emb_null|| per step and token for one image: (N, L)."""
    tuned = torch.stack([e[image] for e in emb_nulls]).float().cpu()  # (N, L, D)
    base = emb_null[image].float().cpu()  # (L, D)
    return ((tuned - base).norm(dim=-1) / base.norm(dim=-1).clamp_min(1e-12)).numpy()  # (N, L)


def plot_embedding_change(emb_nulls, emb_null, ax=None, image: int = 0, tokens: int | None = None):
    """Heatmap of how far each step's tuned null embedding moved from "", per token (rows: steps)."""
    change = embedding_change(emb_nulls, emb_null, image)[:, :tokens]  # (N, L')
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    shown = ax.imshow(change, aspect="auto", cmap="magma")
    plt.colorbar(shown, ax=ax, label="relative change")
    ax.set_xlabel("token position of the null prompt")
    ax.set_ylabel("sampling step i (noisiest first)")
    return ax


def bar_chart(values: dict, ax=None, ylabel: str = "", fmt: str = "{:.1f}"):
    """Bars for {label: value}, each value written on its bar."""
    ax = ax or plt.subplots(figsize=(1.2 * len(values) + 1, 3))[1]
    bars = ax.bar([str(k) for k in values], list(values.values()), color=plt.cm.tab10.colors[: len(values)])
    for bar, v in zip(bars, values.values()):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), fmt.format(v), ha="center", va="bottom", fontsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")
    ax.set_ylabel(ylabel)
    return ax


def attention_maps(maps: torch.Tensor, words: Sequence[str], positions: Sequence[int], image=None, ncols: int = 7):
    """Cross-attention maps (side, side, L) of the given token positions, one panel per word, ``ncols`` a row;
    with ``image``, the image first."""
    n = len(words) + (image is not None)
    nrows, ncols = -(-n // ncols), min(ncols, n)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.5 * nrows), squeeze=False)
    axes = list(axes.flat)
    if image is not None:
        show_image(axes.pop(0), image, "image")
    for ax, word, k in zip(axes, words, positions):
        ax.imshow(maps[..., k].float().cpu().numpy(), cmap="inferno")
        ax.set_title(word, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(words):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def text_table(rows: Sequence[Sequence], header: Sequence[str], fmt: str = "{:.1f}") -> str:
    """A plain-text table (numbers formatted with ``fmt``), for printed teaching checkpoints."""
    cells = [[c if isinstance(c, str) else fmt.format(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[k]) for r in cells)) for k, h in enumerate(header)]
    line = lambda row: "  ".join(str(c).rjust(w) for c, w in zip(row, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in cells])


# -- figures saved to files, for the command line: matplotlib's object API, no pyplot, no display -------------

def file_figure(width: float, height: float):
    """A figure that is only ever saved (no pyplot state, so no display is needed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def hwc(image) -> np.ndarray:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] as an (H, W, 3) array for imshow."""
    image = image[0] if image.ndim == 4 else image
    return image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def save_image_grid(rows: list[list[tuple[object, str]]], path: Path, title: str = "") -> Path:
    """A grid of images, one row per input; each cell is (image tensor, title). Saved as PNG."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = file_figure(2.1 * n_cols, 2.3 * n_rows + (0.3 if title else 0))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_axis_off()
            if c < len(row):
                image, label = row[c]
                ax.imshow(hwc(image), interpolation="nearest")
                ax.set_title(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png")
    return path


def save_heatmaps(steps: list[int], weights: list[float], panels: list[tuple[np.ndarray, str, str]], path: Path,
             title: str = "") -> Path:
    """Side-by-side heatmaps over (steps x guidance weight), each cell annotated; panels: (values, label, cmap)."""
    fig = file_figure(3.6 * len(panels), 0.45 * len(steps) + 1.8)
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


def save_curves(curves: dict, path: Path, *, xlabel: str = "", ylabel: str = "", hline=None) -> Path:
    """Lines through {label: {x: y}} with dots, and a dashed reference line ``hline`` = (y, label). Saved as PNG."""
    fig = file_figure(4.6, 3.2)
    ax = fig.subplots()
    for (label, values), marker in zip(curves.items(), "osD^v"):
        xs = sorted(values)
        ax.plot(xs, [values[x] for x in xs], marker=marker, label=label)
    if hline is not None:
        ax.axhline(hline[0], color="grey", ls="--", lw=1, label=hline[1])
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.savefig(path, format="png")
    return path


# -- the paper's ablation (issue 36): Mokady et al. 2023, Fig. 4, and editability per variant -------------------

def paper_ablation_figure(curves: dict, bounds: dict, edits: dict | None = None, sdedit: list | None = None,
                          kept_label: str = "PSNR of the kept region (dB)"):
    """Reconstruction PSNR against inner iterations and against seconds for every variant (``curves``: name ->
    rows with "iterations", "seconds", "psnr"), ``bounds`` (name -> dB) as horizontal lines; with ``edits``
    (name -> {"success" %, "kept" dB}) and ``sdedit`` (rows with "strength", "success", "kept"), a third panel:
    edit success against the PSNR of the region an edit must keep. Returns the figure."""
    fig, axes = plt.subplots(1, 3 if edits else 2, figsize=(14 if edits else 10, 3.9))
    for ax, x, label in ((axes[0], "iterations", "inner iterations (N x steps)"), (axes[1], "seconds", "seconds")):
        for name, rows in curves.items():
            ax.plot([r[x] for r in rows], [r["psnr"] for r in rows], marker="o", label=name)
        for (name, value), style in zip(bounds.items(), (":", "--")):
            ax.axhline(value, color="gray", linestyle=style, label=name)
        ax.set_xlabel(label), ax.set_ylabel("reconstruction PSNR (dB)")
    axes[0].legend(fontsize=7)
    if edits:
        ax = axes[2]
        for name, e in edits.items():
            ax.scatter(e["kept"], e["success"], label=name)
        if sdedit:
            ax.plot([r["kept"] for r in sdedit], [r["success"] for r in sdedit], "k.-", label="SDEdit (t0)")
            for r in sdedit:
                ax.annotate(f"{r['strength']:g}", (r["kept"], r["success"]), fontsize=7)
        ax.set_xlabel(kept_label), ax.set_ylabel("edit success (%)"), ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
