"""tests/scheduling.py: the units xdist's workers share and the order they start in."""
from pathlib import Path
from types import SimpleNamespace

import scheduling

from nti_edu.testing import notebooks

ROOT = Path(__file__).resolve().parents[1]


def test_a_unit_is_a_file_but_each_standin_notebook_is_its_own():
    sd = scheduling.SPLIT + "07_why_null_text]"
    assert scheduling.unit(sd) == sd
    assert scheduling.unit("tests/test_notebooks_sd15.py::test_null_text_notebook_in_half_precision[float16]") == \
        "tests/test_notebooks_sd15.py"
    assert scheduling.unit("notebooks/05_editing.ipynb::Cell 3") == "notebooks/05_editing.ipynb"
    assert scheduling.unit("tests/test_cli.py::test_invert[a::b]") == "tests/test_cli.py"


def test_every_named_unit_exists_so_a_rename_cannot_drop_it_to_the_end():
    for name in scheduling.LONGEST_FIRST:
        if name.startswith(scheduling.SPLIT):
            assert name[len(scheduling.SPLIT):-1] in notebooks.NAMES, name
        else:
            assert (ROOT / name).is_file(), name
    assert len(set(scheduling.LONGEST_FIRST)) == len(scheduling.LONGEST_FIRST)
    assert {scheduling.SPLIT + n + "]" for n in notebooks.NAMES} <= set(scheduling.LONGEST_FIRST)


def test_longest_first_moves_whole_units_and_keeps_each_files_order():
    ids = ["tests/test_a.py::one", "tests/test_cli_sd15.py::x", "tests/test_a.py::two",
           scheduling.SPLIT + "01_ddim_recap]", "tests/test_cli_sd15.py::y", scheduling.SPLIT + "07_why_null_text]"]
    items = [SimpleNamespace(nodeid=i) for i in ids]
    scheduling.longest_first(items)
    assert [i.nodeid for i in items] == [ids[5], ids[1], ids[4], ids[3], ids[0], ids[2]]
