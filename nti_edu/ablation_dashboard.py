"""Notebook 07's dashboard: pick an ablation variant and an edit, see its reconstruction and edit side by side.

Thin wiring, as ``nti_edu.widgets``: the callback ``variant_figure`` draws from tensors computed beforehand
(every variant's reconstructions and edits), so a change of the dropdowns only redraws.
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from . import viz
from .metrics import psnr
from .widgets import image_choices, redraw

EDIT_MODES = {"p2p": "Prompt-to-Prompt", "resample": "target prompt alone"}


def variant_figure(images: torch.Tensor, recons: dict, edits: dict, variant: str, mode: str, image: int,
                   targets: Sequence[str] = ()):
    """Input, ``variant``'s reconstruction and its edit (``mode``: a key of EDIT_MODES) of image ``image``.

    recons: variant -> (B, 3, H, W); edits: variant -> {mode: (B, 3, H, W)}. Titles give the PSNR to the input.
    """
    x, recon, edited = images[image:image + 1], recons[variant][image:image + 1], edits[variant][mode][image:image + 1]
    fig, axes = plt.subplots(1, 3, figsize=(8, 3))
    viz.show_image(axes[0], x, "input")
    viz.show_image(axes[1], recon, f"reconstruction, {psnr(recon, x).item():.1f} dB")
    target = f": {targets[image]}" if targets else ""
    viz.show_image(axes[2], edited, f"{EDIT_MODES[mode]}, {psnr(edited, x).item():.1f} dB")
    fig.suptitle(f"{variant}{target}", fontsize=9)
    fig.tight_layout()
    return fig


def ablation_dashboard(images: torch.Tensor, recons: dict, edits: dict, prompts: Sequence[str],
                       targets: Sequence[str] = ()):
    """Dropdowns for the variant, the edit and the image over computed results. ``.controls`` and ``.output``
    are exposed for tests."""
    controls = {"variant": W.Dropdown(options=list(recons), description="variant"),
                "mode": W.Dropdown(options=[(v, k) for k, v in EDIT_MODES.items()], description="edit"),
                "image": W.Dropdown(options=image_choices(prompts), value=0, description="image")}
    output = W.Output()

    def on_change(_=None):
        values = {name: c.value for name, c in controls.items()}
        redraw(output, variant_figure(images, recons, edits, targets=targets, **values))

    for c in controls.values():
        c.observe(on_change, names="value")
    on_change()
    box = W.VBox([W.HBox(list(controls.values())), output])
    box.controls, box.output = controls, output
    return box
