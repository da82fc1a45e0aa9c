"""The lecture's figures draw the data they are given: read the drawn arrays and lines back."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from nti_edu import viz  # noqa: E402
from nti_edu.schedule import NoiseSchedule  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def rand_images(n, side=8, seed=0):
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


def test_image_grid_draws_each_image_with_its_title():
    images = rand_images(5)
    fig = viz.image_grid(images, [f"image {k}" for k in range(5)], ncols=3)
    axes = fig.axes
    assert len(axes) == 6  # 2 rows of 3, the last panel blank
    for k in range(5):
        drawn = axes[k].images[0].get_array()
        assert np.allclose(drawn, images[k].permute(1, 2, 0).numpy())
        assert axes[k].get_title() == f"image {k}"
    assert not axes[5].axison and not axes[5].images


def test_image_grid_wraps_long_titles_and_checks_counts():
    fig = viz.image_grid(rand_images(1), ["a medium orange moon at the top left on a pink background"])
    assert len(fig.axes[0].get_title().splitlines()) == 3
    with pytest.raises(ValueError, match="2 titles for 1 images"):
        viz.image_grid(rand_images(1), ["a", "b"])
    with pytest.raises(ValueError, match="at least one image"):
        viz.image_grid([])
    with pytest.raises(ValueError, match=r"shape \(3, H, W\)"):
        viz.to_hwc(torch.rand(2, 3, 4, 4))


def test_image_rows_labels_rows_and_rejects_ragged_rows():
    rows = {"input": rand_images(3, seed=1), "recon": rand_images(3, seed=2)}
    fig = viz.image_rows(rows, col_titles=["a", "b", "c"])
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["input", "recon"]
    assert [ax.get_title() for ax in axes[0]] == ["a", "b", "c"] and axes[1, 0].get_title() == ""
    assert np.allclose(axes[1, 2].images[0].get_array(), rows["recon"][2].permute(1, 2, 0).numpy())
    with pytest.raises(ValueError, match="rows must match"):
        viz.image_rows({"a": rand_images(3), "b": rand_images(2)})


def test_plot_schedule_marks_the_inference_timesteps():
    schedule = NoiseSchedule.create()
    ax = viz.plot_schedule(schedule, num_steps=10)
    signal, noise, dots = ax.get_lines()
    assert np.allclose(signal.get_ydata() + noise.get_ydata(), 1.0)
    assert list(dots.get_xdata()) == schedule.timesteps(10).tolist()
    assert np.allclose(dots.get_ydata(), schedule.alpha_bar[schedule.timesteps(10)].numpy())


def test_plot_drift_averages_images_on_a_common_axis():
    drifts = {2: torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 3.0]]), 4: torch.rand(5, 2)}  # noisiest level first
    ax = viz.plot_drift(drifts, highlight=2)
    two, four = ax.get_lines()
    assert np.allclose(two.get_xdata(), [0, 0.5, 1]) and np.allclose(two.get_ydata(), [2.0, 0.5, 0.0])
    assert np.allclose(four.get_xdata(), np.linspace(0, 1, 5))
    assert np.allclose(four.get_ydata(), drifts[4].mean(1).flip(0).numpy())
    assert two.get_linewidth() > four.get_linewidth() and four.get_alpha() < 1


def test_plot_losses_lays_steps_end_to_end():
    histories = [[1.0, 0.5], [0.2], [0.1, 0.05, 0.01]]
    ax = viz.plot_losses(histories, thresholds=[0.3, 0.3, 0.02])
    lines = ax.get_lines()
    assert [list(line.get_xdata()) for line in lines] == [[0, 1], [2], [3, 4, 5]]
    assert list(lines[2].get_ydata()) == [0.1, 0.05, 0.01]
    assert ax.get_yscale() == "log" and len(ax.collections) == 3  # one threshold line per step


def test_heatmap_writes_every_value_and_checks_labels():
    values = np.array([[30.04, 20.0], [10.0, 5.55]])
    ax = viz.heatmap(values, ["1", "7.5"], ["1", "7.5"])
    assert [t.get_text() for t in ax.texts] == ["30.0", "20.0", "10.0", "5.5"]
    assert np.allclose(ax.images[0].get_array(), values)
    with pytest.raises(ValueError, match="must match"):
        viz.heatmap(values, ["1"], ["1", "7.5"])


def test_embedding_change_is_relative_per_token():
    base = torch.ones(2, 4, 3)  # (B, L, D)
    tuned = [base.clone(), base.clone()]
    tuned[1][0, 2] += torch.tensor([3.0, 0.0, 4.0])  # step 1, image 0, token 2 moves by 5 (norm sqrt(3))
    change = viz.embedding_change(tuned, base, image=0)
    assert change.shape == (2, 4)
    expected = np.zeros((2, 4))
    expected[1, 2] = 5 / 3**0.5
    assert np.allclose(change, expected)
    ax = viz.plot_embedding_change(tuned, base, tokens=3)
    assert ax.images[0].get_array().shape == (2, 3)


def test_bar_chart_and_text_table():
    ax = viz.bar_chart({"DDIM": 17.25, "null-text": 31.0})
    assert [round(p.get_height(), 2) for p in ax.patches] == [17.25, 31.0]
    assert [t.get_text() for t in ax.texts] == ["17.2", "31.0"]
    table = viz.text_table([["2", 8.04], ["50", 27.66]], ["steps", "PSNR"])
    assert table.splitlines() == ["steps  PSNR", "-----  ----", "    2   8.0", "   50  27.7"]


def test_attention_maps_one_panel_per_word():
    maps = torch.rand(4, 4, 6)  # (side, side, L)
    fig = viz.attention_maps(maps, ["red", "circle"], [2, 3], image=rand_images(1)[0])
    assert [ax.get_title() for ax in fig.axes] == ["image", "red", "circle"]
    assert np.allclose(fig.axes[2].images[0].get_array(), maps[..., 3].numpy())
    fig = viz.attention_maps(maps, list("abcde"), [0, 1, 2, 3, 4], ncols=3)  # 2 rows of 3, one panel blank
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "d", "e", ""] and not fig.axes[5].axison
    assert np.allclose(fig.axes[4].images[0].get_array(), maps[..., 4].numpy())


def test_trajectory_strip_decodes_evenly_spaced_latents(tiny_model):
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(2, *tiny_model.latent_shape, generator=g) for _ in range(11)]
    fig = viz.trajectory_strip(tiny_model, latents, num_shown=3, image=1, labels=[f"l{k}" for k in range(11)])
    assert [ax.get_title() for ax in fig.axes] == ["l0", "l5", "l10"]
    decoded = tiny_model.latent_to_image(torch.cat([latents[k][1:2] for k in (0, 5, 10)]))[1]  # (3, H, W)
    assert np.array_equal(fig.axes[1].images[0].get_array(), decoded.permute(1, 2, 0).numpy())
