"""The lecture notebooks as committed: clean, badged, Colab-ready, and following the notebook rules."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import clean_notebooks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_seven_lecture_notebooks():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_", "07_"]


def test_notebooks_are_committed_clean():
    assert clean_notebooks.main(["--check"]) == 0, "run python scripts/clean_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_rules(path):
    nb = nbformat.read(path, as_version=4)
    assert clean_notebooks.badge(f"notebooks/{path.name}") in nb.cells[0].source
    cells = code_cells(path)
    assert cells[0].source == clean_notebooks.colab_setup_source()
    assert any(c.source.startswith('MODEL = "embedded"') for c in cells), "the model switch, default embedded"
    for cell in cells:
        if "NBVAL_CHECK_OUTPUT" in cell.source:
            assert cell.outputs, "a checked cell needs its stored output (run clean_notebooks.py --execute)"
        else:
            assert not cell.outputs
        if "widgets." in cell.source and "dashboard(" in cell.source:
            assert cell.source.startswith("# NBVAL_IGNORE_OUTPUT")
        if "plt.show()" in cell.source:
            assert cell.source.rstrip().endswith("plt.show()")
        draws = any(f"viz.{name}(" in cell.source for name in ("image_grid", "image_rows", "trajectory_strip",
                                                                 "attention_maps", "heatmap", "plot_"))
        assert not draws or "plt.show()" in cell.source, f"a plot cell must end with plt.show():\n{cell.source}"
