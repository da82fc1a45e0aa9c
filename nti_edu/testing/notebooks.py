"""The lecture notebooks' Stable Diffusion branch, executed top to bottom as a learner runs it (issue 27).

A learner sets ``MODEL = "sd15"`` and MY_IMAGES (a local photo, a URL); here the model folder comes from
``NTI_EDU_MODEL`` (a tiny random SD, the SD-1.5 stand-in of ``nti_edu.testing``) and its dtype from
``NTI_EDU_DTYPE`` (``nti_edu.lecture``), the URL is served on ``http://127.0.0.1`` by this module (no outside
network), and each notebook's own code runs with a few lines changed, each checked to be there (a renamed constant
fails loudly instead of silently running the default): the switch, fewer DDIM steps and null-text iterations
(NUM_STEPS, NUM_INNER_STEPS), and the widget cell's dashboard named so that an added last cell can drive it as a
click or a slider move does.

Used by tests/test_notebooks_sd15.py (CPU) and by benchmarks/gpu_session.sh's ``notebooks`` stage (CUDA, float16
and bfloat16, the stand-in at SD 1.5's real widths):

    python -m nti_edu.testing.notebooks --model FOLDER [--dtype bfloat16] [--steps 2] [--inner-steps 2]
                                        [--out DIR] [NAME ...]
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from .. import lecture

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["01_ddim_recap", "02_ddim_inversion", "03_guidance_and_inversion", "04_null_text_inversion",
         "05_editing", "06_beyond_null_text", "07_why_null_text"]
PROMPTS = [("a cat sitting next to a mirror", "a tiger sitting next to a mirror"),
           ("a red apple on a wooden table", "a green apple on a wooden table")]
KEEP_WORDS = ["cat"]  # MY_KEEP_WORDS: notebook 05's background swap keeps the cat of the first prompt
PHOTO_URL_PATH = "/apple.png"
# a last cell that drives a notebook's dashboard as a learner would; it must then show a figure
DRIVE = {
    "02_ddim_inversion": 'dashboard.controls["steps"].value = 1\ndashboard.controls["image"].value = 1\n',
    "03_guidance_and_inversion": 'dashboard.controls["w_sample"].value = 1.0\n',
    "04_null_text_inversion": 'dashboard.controls["image"].value = 1\ndashboard.controls["button"].click()\n'
                              'assert sorted(dashboard.results) == [1]\n',
}
CHECK_DRAWN = ('outputs = dashboard.output.outputs\n'
               'assert any("image/png" in o.get("data", {}) for o in outputs), outputs\n')


INNER = "NUM_INNER_STEPS = 10"  # how notebooks 04-06 set null-text inversion's Adam iterations per step


def changes(name: str, num_steps: int, num_inner_steps: int = 2) -> dict[str, str]:
    """What the run changes in notebook ``name``: {old text: new text}, each to be found exactly once."""
    steps = {"NUM_STEPS = 50": f"NUM_STEPS = {num_steps}"}
    if name in ("04_null_text_inversion", "05_editing", "06_beyond_null_text", "07_why_null_text"):
        steps[INNER] = f"NUM_INNER_STEPS = {num_inner_steps}"
    named = {"02_ddim_inversion": "widgets.sweep_dashboard(",
             "03_guidance_and_inversion": "widgets.sweep_dashboard(",
             "04_null_text_inversion": "widgets.null_text_dashboard("}
    extra = {named[name]: f"dashboard = {named[name]}"} if name in named else {}
    if name == "02_ddim_inversion":
        extra |= {"STEP_COUNTS = [2, 5, 10, 20, 50]": f"STEP_COUNTS = [1, {num_steps}]",
                  "for n in (2, 5, 50):": f"for n in (1, {max(1, num_steps // 2)}, {num_steps}):"}
    return steps | extra


def write_photo(path: Path, seed: int, size=(300, 220)) -> Path:
    """A smooth random colour picture (not square: the loader crops it), saved as PNG or JPEG by its suffix."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.BICUBIC).save(path)
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder without logging each request; keeps the paths asked for in ``requested``."""
    requested: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requested.append(self.path)
        super().do_GET()


@contextlib.contextmanager
def serve(folder: Path):
    """An HTTP server for ``folder`` on 127.0.0.1 (a free port), in a thread; yields its base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def my_images(folder: Path):
    """MY_IMAGES as a learner writes it: a local JPEG (a space in its name) and a PNG behind an http://127.0.0.1
    URL served while the context lasts; the URL's cached download is removed afterwards."""
    local = write_photo(folder / "local photo.jpg", seed=1)
    served = folder / "served"
    served.mkdir(exist_ok=True)
    write_photo(served / PHOTO_URL_PATH.lstrip("/"), seed=2, size=(240, 320))
    with serve(served) as base:
        url = base + PHOTO_URL_PATH
        try:
            yield [(str(local), *PROMPTS[0]), (url, *PROMPTS[1])]
        finally:
            lecture.cached_path(url).unlink(missing_ok=True)


def sd_branch(name: str, user_images, num_steps: int = 2, num_inner_steps: int = 2):
    """Notebook ``name`` as a learner runs its SD branch, with ``changes`` applied (each checked to apply once)."""
    import nbformat

    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2 (notebook 02 compares 1 step with num_steps), got {num_steps}")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    switch = next(c for c in code if c.source.lstrip().startswith('MODEL = "embedded"'))
    switch.source += f'\nMODEL = "sd15"\nMY_IMAGES = {list(user_images)!r}\nMY_KEEP_WORDS = {KEEP_WORDS!r}\n'
    for old, new in changes(name, num_steps, num_inner_steps).items():
        cells = [c for c in code if old in c.source]
        if len(cells) != 1 or cells[0].source.count(old) != 1:
            raise AssertionError(f"{name}: {old!r} not found exactly once in its code cells")
        cells[0].source = cells[0].source.replace(old, new)
    if name in DRIVE:
        nb.cells.append(nbformat.v4.new_code_cell(DRIVE[name] + CHECK_DRAWN))
    return nb


def execute(nb, model_dir: Path | str, dtype: str = "auto", timeout: int = 1800):
    """Run every cell in a fresh kernel of this Python with NTI_EDU_MODEL and NTI_EDU_DTYPE set (the kernel
    inherits the environment, restored afterwards); raises nbclient's CellExecutionError on the first error."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    with mock.patch.dict(os.environ, {lecture.ENV_MODEL: str(model_dir), lecture.ENV_DTYPE: dtype,
                                      "MPLBACKEND": "module://matplotlib_inline.backend_inline"}):
        return client.execute()


def problems(nb, name: str) -> list[str]:
    """What a learner would see go wrong in an executed notebook: a cell that did not run, a cell that calls
    ``plt.show()`` without a figure in its outputs, no model line from ``lecture.load``, a download not fetched."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    found = [f"{name}: cell {i} did not run" for i, c in enumerate(code) if not c.execution_count]
    found += [f"{name}: no figure from\n{c.source}" for c in code if "plt.show()" in c.source
              and not any("image/png" in o.get("data", {}) for o in c.outputs)]
    if "model: " not in printed(nb):
        found.append(f"{name}: no 'model: ' line from lecture.load")
    if QuietHandler.requested != [PHOTO_URL_PATH]:  # fetched once, then read from the cache
        found.append(f"{name}: the served photo was requested {QuietHandler.requested}, not once")
    return found


def printed(nb) -> str:
    """Everything the notebook's code cells printed."""
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def figures(nb) -> int:
    """How many PNG figures the executed notebook holds."""
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def run(name: str, model_dir, user_images, num_steps: int = 2, dtype: str = "auto", num_inner_steps: int = 2):
    """(the executed notebook, seconds, problems): notebook ``name``'s SD branch on the model in ``model_dir``."""
    QuietHandler.requested.clear()
    lecture.cached_path(user_images[1][0]).unlink(missing_ok=True)  # each notebook downloads it afresh
    start = time.perf_counter()
    nb = execute(sd_branch(name, user_images, num_steps, num_inner_steps), model_dir, dtype)
    return nb, time.perf_counter() - start, problems(nb, name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nti_edu.testing.notebooks", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=NAMES, help=f"notebooks to run (default all: {' '.join(NAMES)})")
    parser.add_argument("--model", required=True, help="a model folder in SD's layout (e.g. the SD-1.5 stand-in)")
    parser.add_argument("--dtype", choices=list(lecture.DTYPES), default="auto",
                        help="default: auto, the device's choice")
    parser.add_argument("--steps", type=int, default=2, help="NUM_STEPS in each notebook (default 2)")
    parser.add_argument("--inner-steps", type=int, default=2,
                        help="NUM_INNER_STEPS, null-text's Adam iterations per step (default 2; the notebooks' 10)")
    parser.add_argument("--out", help="write each executed notebook here (NAME.DTYPE.ipynb)")
    args = parser.parse_args(argv)
    import nbformat

    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown notebooks {unknown}; choose from {NAMES}")
    failed = 0
    print("| notebook | dtype | steps | seconds | figures | result |\n|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as folder, my_images(Path(folder)) as images:
        for name in args.names:
            try:
                nb, seconds, found = run(name, args.model, images, args.steps, args.dtype, args.inner_steps)
            except Exception as error:  # a cell's error: report it and go on to the next notebook
                print(f"| {name} | {args.dtype} | {args.steps} | - | - | failed |\n{str(error)[-3000:]}", flush=True)
                failed += 1
                continue
            failed += bool(found)
            result = "ok" if not found else "; ".join(found)
            print(f"| {name} | {args.dtype} | {args.steps} | {seconds:.1f} | {figures(nb)} | {result} |", flush=True)
            if args.out:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, Path(args.out) / f"{name}.{args.dtype}.ipynb")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
