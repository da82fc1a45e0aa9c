"""ipywidgets dashboards for the lecture notebooks.

Each dashboard is thin wiring: its callbacks are the plain named functions below (``sweep_figure``,
``null_text_figure``, ``run_null_text``, ``redraw``), which draw or compute from their arguments alone,
so tests call them directly. The sweep dashboard never computes: it reads a ``nti_edu.sweeps.Sweep``
computed once beforehand, so moving a slider only redraws a figure (well under a second on a CPU).
"""
from __future__ import annotations

import base64
import io
from typing import Sequence

import ipywidgets as W
import matplotlib.pyplot as plt

from . import viz
from .null_text import null_text_inversion
from .reconstruction import reconstruct
from .sampling import sample


# -- callbacks: plain functions -------------------------------------------------------------------
sweep_figure = viz.sweep_figure  # the sweep dashboard draws a computed sweep's point, nothing more


def image_choices(prompts: Sequence[str]) -> list[tuple[str, int]]:
    """Dropdown options: ("0: <prompt>", 0), ... one per image."""
    return [(f"{k}: {p}", k) for k, p in enumerate(prompts)]


def progress_callback(bar: W.IntProgress):
    """A ``callback(i, losses)`` for null-text inversion that moves ``bar`` to step i + 1."""

    def on_step(i: int, losses) -> None:
        bar.value = i + 1
        if losses:
            bar.description = f"loss {losses[-1]:.1e}"

    return on_step


def run_null_text(model, image, prompt: str, *, num_steps: int, w: float = 7.5, num_inner_steps: int = 10,
                  bar: W.IntProgress | None = None):
    """Null-text inversion of one image (1, 3, H, W) with ``prompt``, reporting progress on ``bar``."""
    if bar is not None:
        bar.max, bar.value = num_steps, 0
    return null_text_inversion(model, image, prompt, num_steps=num_steps, w=w, num_inner_steps=num_inner_steps,
                               progress=False, callback=progress_callback(bar) if bar is not None else None)


def null_text_figure(model, image, result):
    """Input, plain DDIM inversion re-sampled at the result's w, null-text reconstruction, loss curves. The plain
    one samples from the result's own pivot x*_T (DDIM inversion at w = 1) with the "" embedding."""
    plain = model.latent_to_image(sample(model, result.x_T, result.emb_cond, num_steps=result.num_steps,
                                         w=result.w))  # (1, 3, H, W)
    return viz.null_text_panels(image, plain, reconstruct(model, result), result)


def figure_png(fig, dpi: int = 80) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def redraw(output: W.Output, fig) -> None:
    """Show ``fig`` in ``output`` as a PNG, in place of what was there, and close it.

    Setting ``output.outputs`` (rather than ``display`` inside ``with output``) works with or without a
    running kernel, so tests can read the drawn image back.
    """
    png = base64.b64encode(figure_png(fig)).decode("ascii")
    output.outputs = ({"output_type": "display_data", "metadata": {},
                       "data": {"image/png": png, "text/plain": "<figure>"}},)
    plt.close(fig)


def show_message(output: W.Output, text: str) -> None:
    """Show a line of text in ``output`` in place of what was there."""
    output.outputs = ({"output_type": "stream", "name": "stdout", "text": text + "\n"},)


# -- dashboards: wiring only ------------------------------------------------------------------------
def swept_values(sweep) -> dict:
    """The swept values {"steps": [...], "w_invert": [...], "w_sample": [...]}; "w_sample" is left out
    when every point was sampled at the weight it was inverted at (then one slider sets both)."""
    keys = sorted(sweep.points)
    values = {name: sorted({k[j] for k in keys}) for j, name in enumerate(("steps", "w_invert", "w_sample"))}
    if all(k[1] == k[2] for k in keys):
        del values["w_sample"]
    return values


def sweep_point(values: dict) -> tuple[int, float, float]:
    """The sweep key a dashboard's control values name (w_sample defaults to w_invert)."""
    w_invert = float(values["w_invert"])
    return values["steps"], w_invert, float(values.get("w_sample", w_invert))


def sweep_controls(sweep) -> dict:
    """Sliders over the swept values and an image picker: {"steps", "w_invert"[, "w_sample"], "image"}."""
    labels = {"steps": "steps", "w_invert": "w invert", "w_sample": "w sample"}
    if "w_sample" not in swept_values(sweep):
        labels["w_invert"] = "w"
    controls = {name: W.SelectionSlider(options=opts, value=opts[0], description=labels[name], continuous_update=False)
                for name, opts in swept_values(sweep).items()}
    controls["image"] = W.Dropdown(options=image_choices(sweep.prompts), value=0, description="image")
    return controls


def sweep_dashboard(sweep, **start):
    """Sliders (step count, guidance weights) and an image picker over a computed sweep; ``start`` sets
    their first values. Returns the widget; ``.controls`` and ``.output`` are exposed for tests."""
    controls, output = sweep_controls(sweep), W.Output()
    for name, value in start.items():
        controls[name].value = value

    def on_change(_=None):
        steps, w_invert, w_sample = sweep_point({name: c.value for name, c in controls.items()})
        if (steps, w_invert, w_sample) not in sweep.points:
            return show_message(output, f"not swept: {steps} steps, w invert {w_invert:g}, w sample {w_sample:g}")
        redraw(output, sweep_figure(sweep, steps, w_invert, w_sample, controls["image"].value))

    for c in controls.values():
        c.observe(on_change, names="value")
    on_change()
    sliders = [c for name, c in controls.items() if name != "image"]
    box = W.VBox([W.HBox([sliders[0], controls["image"]]), W.HBox(sliders[1:]), output])
    box.controls, box.output = controls, output
    return box


def null_text_dashboard(model, images, prompts: Sequence[str], *, num_steps: int, w: float = 7.5,
                        num_inner_steps: int = 10):
    """Pick an image, edit its prompt if you like, press the button: null-text inversion runs with a
    progress bar and the figure shows what it recovered. ``.controls``, ``.output`` and ``.results``
    (image index -> InversionResult) are exposed for tests."""
    picker = W.Dropdown(options=image_choices(prompts), value=0, description="image")
    prompt = W.Text(value=prompts[0], description="prompt", layout=W.Layout(width="420px"))
    button, bar, output = W.Button(description="Run null-text inversion"), W.IntProgress(value=0, max=num_steps), W.Output()
    results = {}
    picker.observe(lambda change: setattr(prompt, "value", prompts[change["new"]]), names="value")

    def on_click(_=None):
        k = picker.value
        button.disabled = True
        try:
            results[k] = run_null_text(model, images[k:k + 1], prompt.value, num_steps=num_steps, w=w,
                                       num_inner_steps=num_inner_steps, bar=bar)
            redraw(output, null_text_figure(model, images[k:k + 1], results[k]))
        finally:
            button.disabled = False

    button.on_click(on_click)
    box = W.VBox([W.HBox([picker, prompt]), W.HBox([button, bar]), output])
    box.controls = {"image": picker, "prompt": prompt, "button": button, "progress": bar}
    box.output, box.results = output, results
    return box
