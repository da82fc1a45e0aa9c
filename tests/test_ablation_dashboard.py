"""Notebook 07's dashboard: its callback draws from given tensors, and moving a dropdown redraws (issue 36)."""
import matplotlib
import torch

matplotlib.use("Agg")

from nti_edu.ablation_dashboard import EDIT_MODES, ablation_dashboard, variant_figure  # noqa: E402

VARIANTS = ("null-text", "textual inversion + pivot")


def computed(n=2, side=8):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, side, side, generator=g)
    recons = {v: torch.rand(n, 3, side, side, generator=g) for v in VARIANTS}
    edits = {v: {mode: torch.rand(n, 3, side, side, generator=g) for mode in EDIT_MODES} for v in VARIANTS}
    return images, recons, edits


def test_variant_figure_shows_input_reconstruction_and_edit():
    images, recons, edits = computed()
    fig = variant_figure(images, recons, edits, "textual inversion + pivot", "resample", 1, targets=["a", "b"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "input" and titles[1].startswith("reconstruction") and titles[2].startswith("target prompt")
    assert "textual inversion + pivot: b" in fig._suptitle.get_text()


def test_dashboard_redraws_when_a_dropdown_moves():
    images, recons, edits = computed()
    box = ablation_dashboard(images, recons, edits, ["a red circle", "a blue square"])
    first = box.output.outputs[0]["data"]["image/png"]
    box.controls["variant"].value = "textual inversion + pivot"
    box.controls["mode"].value = "resample"
    assert box.output.outputs[0]["data"]["image/png"] != first
