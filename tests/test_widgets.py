"""The dashboards' callbacks are plain functions: call them directly, then drive the widgets as a user would."""
import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from nti_edu import widgets  # noqa: E402
from nti_edu.lecture import world_examples  # noqa: E402
from nti_edu.metrics import psnr  # noqa: E402
from nti_edu.reconstruction import reconstruct  # noqa: E402
from nti_edu.sweeps import Sweep, SweepPoint  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def synthetic_sweep(steps=(2, 5, 10), weights=((1.0, 1.0), (7.5, 7.5)), side=16):
    """A Sweep filled with seeded random points (no model needed): 2 images."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, side, side, generator=g)
    result = Sweep(images=images, prompts=["a red circle", "a blue square"])
    for n in steps:
        for w_inv, w_s in weights:
            recon = torch.rand(2, 3, side, side, generator=g)
            result.points[(n, w_inv, w_s)] = SweepPoint(recon, psnr(recon, images), torch.rand(n + 1, 2, generator=g))
    return result


def shown_png(output) -> np.ndarray:
    (item,) = output.outputs
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(item["data"]["image/png"]))))


def test_sweep_figure_draws_the_requested_point():
    sweep = synthetic_sweep()
    fig = widgets.sweep_figure(sweep, 5, 7.5, 7.5, image=1)
    image_ax, recon_ax, drift_ax = fig.axes
    point = sweep.get(5, 7.5, 7.5)
    assert np.allclose(recon_ax.images[0].get_array(), point.recon[1].permute(1, 2, 0).numpy())
    assert recon_ax.get_title() == f"5 steps: {point.psnr[1].item():.1f} dB"
    lines = drift_ax.get_lines()
    assert len(lines) == 3  # one curve per step count at these weights
    assert np.allclose(lines[1].get_ydata(), point.drift[:, 1].flip(0).numpy())  # plotted from x_0 to x_T
    with pytest.raises(KeyError, match="was not swept"):
        widgets.sweep_figure(sweep, 20, 1.0, 1.0)


def test_swept_values_tie_the_weights_when_sampled_at_the_inverting_weight():
    tied = synthetic_sweep()
    assert widgets.swept_values(tied) == {"steps": [2, 5, 10], "w_invert": [1.0, 7.5]}
    assert widgets.sweep_point({"steps": 5, "w_invert": 7.5, "image": 0}) == (5, 7.5, 7.5)
    grid = synthetic_sweep(steps=(4,), weights=[(a, b) for a in (1.0, 3.0) for b in (1.0, 3.0)])
    assert widgets.swept_values(grid) == {"steps": [4], "w_invert": [1.0, 3.0], "w_sample": [1.0, 3.0]}
    assert set(widgets.sweep_controls(grid)) == {"steps", "w_invert", "w_sample", "image"}


def test_sweep_dashboard_redraws_when_a_slider_moves():
    sweep = synthetic_sweep()
    box = widgets.sweep_dashboard(sweep)
    first = shown_png(box.output)
    box.controls["steps"].value = 10
    moved = shown_png(box.output)
    assert first.shape == moved.shape and not np.array_equal(first, moved)
    # the image drawn is the one sweep_figure draws for the new value
    assert np.array_equal(moved, shown_png_of(widgets.sweep_figure(sweep, 10, 1.0, 1.0, 0)))
    box.controls["image"].value = 1
    assert not np.array_equal(moved, shown_png(box.output))


def shown_png_of(fig) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(widgets.figure_png(fig))))


def test_sweep_dashboard_says_when_a_point_was_not_swept():
    grid = synthetic_sweep(steps=(4,), weights=[(1.0, 1.0), (3.0, 3.0), (1.0, 3.0)])  # (3.0, 1.0) missing
    box = widgets.sweep_dashboard(grid, w_invert=3.0, w_sample=3.0)
    assert box.output.outputs[0]["output_type"] == "display_data"
    box.controls["w_sample"].value = 1.0
    assert box.output.outputs[0]["text"] == "not swept: 4 steps, w invert 3, w sample 1\n"


def test_run_null_text_moves_the_progress_bar(tiny_model):
    images, prompts, _ = world_examples(1, tiny_model.image_size)
    bar = widgets.W.IntProgress()
    seen = []
    bar.observe(lambda change: seen.append(change["new"]), names="value")
    result = widgets.run_null_text(tiny_model, images, prompts[0], num_steps=3, num_inner_steps=2, bar=bar)
    assert result.method == "null-text" and len(result.emb_null) == 3
    assert seen[-3:] == [1, 2, 3] and bar.max == 3 and bar.description.startswith("loss ")


def test_null_text_dashboard_button_runs_and_draws(tiny_model):
    images, prompts, _ = world_examples(2, tiny_model.image_size)
    box = widgets.null_text_dashboard(tiny_model, images, prompts, num_steps=3, num_inner_steps=2)
    box.controls["image"].value = 1
    assert box.controls["prompt"].value == prompts[1]
    box.controls["button"].click()
    result = box.results[1]
    assert result.prompts == [prompts[1]] and box.controls["progress"].value == 3
    assert not box.controls["button"].disabled
    assert shown_png(box.output).ndim == 3
    fig = widgets.null_text_figure(tiny_model, images[1:2], result)
    title = fig.axes[2].get_title()
    expected = psnr(reconstruct(tiny_model, result), images[1:2]).item()
    assert title == f"null-text: {expected:.1f} dB"
    assert len(fig.axes[3].get_lines()) == 3  # one loss curve per step


def test_image_choices_label_each_image():
    assert widgets.image_choices(["a cat", "a dog"]) == [("0: a cat", 0), ("1: a dog", 1)]


def test_null_text_figure_samples_plain_ddim_from_the_results_own_pivot(tiny_model):
    """The dashboard's plain DDIM reconstruction starts from the null-text result's x*_T, which is DDIM
    inversion at w = 1 (so the figure need not invert again)."""
    from nti_edu.inversion import invert
    from nti_edu.null_text import null_text_inversion

    image = torch.rand(1, 3, tiny_model.image_size, tiny_model.image_size, generator=torch.Generator().manual_seed(0))
    result = null_text_inversion(tiny_model, image, "a red circle", num_steps=3, num_inner_steps=1, progress=False)
    assert torch.equal(invert(tiny_model, image, "a red circle", num_steps=3, w=1.0).x_T, result.x_T)
