"""The six notebooks' Stable Diffusion branch, executed top to bottom (issue 27): ``MODEL = "sd15"`` and MY_IMAGES
set as a learner sets them (one local file, one http://127.0.0.1 URL served by the test), the model folder given
through ``NTI_EDU_MODEL``, no outside network; every cell runs, every cell that calls ``plt.show()`` shows a figure,
and each dashboard draws after being driven (nti_edu.testing.notebooks holds the machinery).

Models: the SD-1.5 stand-in (SD 1.5's blocks and real CLIP tokenizer, 512x512 images, small widths), every notebook
(the full tier: ``--full``); a tiny random SD (32x32) in float16 (the quick tier's SD-branch notebook) and bfloat16, on the notebook with the most to go wrong in half precision
(null-text inversion and its dashboard), as the GPU session runs the stand-in at real widths.
"""
from __future__ import annotations

import pytest

from nti_edu.testing import notebooks

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jupyter_client's, in the kernel's start


@pytest.fixture(scope="module")
def user_images(tmp_path_factory):
    with notebooks.my_images(tmp_path_factory.mktemp("my_images")) as images:
        yield images


@pytest.mark.full  # minutes each at 512x512 on 2 cores (07: every ablation, its edits and SDEdit)
@pytest.mark.parametrize("name", notebooks.NAMES)
def test_sd_branch_on_the_sd15_standin(name, sd15_standin_dir, user_images):
    nb, _, problems = notebooks.run(name, sd15_standin_dir, user_images)
    assert problems == []
    assert "on cpu in float32; images 512x512, latents (4, 64, 64)" in notebooks.printed(nb)


@pytest.mark.parametrize("dtype", ["float16", pytest.param("bfloat16", marks=pytest.mark.full)])
def test_null_text_notebook_in_half_precision(dtype, tiny_model_dir, user_images):
    nb, _, problems = notebooks.run("04_null_text_inversion", tiny_model_dir, user_images, dtype=dtype)
    assert problems == []
    assert f"on cpu in {dtype}; images 32x32" in notebooks.printed(nb)


def test_changes_apply_once_to_every_notebook(user_images):
    """The run's edits find their text in every notebook (a renamed constant fails here, not silently)."""
    for name in notebooks.NAMES:
        nb = notebooks.sd_branch(name, user_images, num_steps=10)
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert 'MODEL = "sd15"' in source and "NUM_STEPS = 10" in source and "NUM_STEPS = 50" not in source
        assert ("dashboard.controls" in source) == (name in notebooks.DRIVE)
    with pytest.raises(ValueError, match="at least 2"):
        notebooks.sd_branch("01_ddim_recap", user_images, num_steps=1)


def test_command_line_runs_a_notebook_and_reports(tiny_model_dir, tmp_path, capsys):
    """The GPU session's command, on the CPU: a table row per notebook, the executed notebook written."""
    code = notebooks.main(["01_ddim_recap", "--model", str(tiny_model_dir), "--dtype", "bfloat16",
                           "--out", str(tmp_path)])
    table = capsys.readouterr().out
    assert code == 0, table
    row = next(line for line in table.splitlines() if line.startswith("| 01_ddim_recap"))
    assert row.startswith("| 01_ddim_recap | bfloat16 | 2 |") and row.endswith("| ok |")
    assert int(row.split("|")[5]) >= 1  # figures
    assert (tmp_path / "01_ddim_recap.bfloat16.ipynb").is_file()
    with pytest.raises(SystemExit):
        notebooks.main(["07_missing", "--model", str(tiny_model_dir)])
