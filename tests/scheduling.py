"""How pytest-xdist shares the suite between workers (``python -m pytest -n auto``; conftest.py installs it).

A unit of work is a test file, as with ``--dist loadfile`` (a file's module fixtures are built once), except the
notebooks' Stable Diffusion branch on the SD-1.5 stand-in (tests/test_notebooks_sd15.py), each notebook its own
unit: together they are the longest file by far, and as one unit they kept one worker busy long after the other
had run out of work. Units start longest first (``LONGEST_FIRST``, from measured durations), so that the last
units to start are short ones and the workers finish together: the longest-processing-time rule.
"""
from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

SPLIT = "tests/test_notebooks_sd15.py::test_sd_branch_on_the_sd15_standin["  # one unit per notebook

# The longest units, longest first (the full tier on a 2-core AMD EPYC, one thread per worker); the rest follow in
# collection order. Only the order depends on these: a unit missing here runs later, nothing is skipped.
LONGEST_FIRST = [
    SPLIT + "07_why_null_text]",
    SPLIT + "05_editing]",
    SPLIT + "06_beyond_null_text]",
    SPLIT + "04_null_text_inversion]",
    "tests/test_nbgrader_assignments.py",
    "tests/test_instructors_guide.py",
    SPLIT + "03_guidance_and_inversion]",
    SPLIT + "02_ddim_inversion]",
    "tests/test_cli_sd15.py",
    SPLIT + "01_ddim_recap]",
    "notebooks/07_why_null_text.ipynb",
    "notebooks/05_editing.ipynb",
    "notebooks/04_null_text_inversion.ipynb",
    "notebooks/06_beyond_null_text.ipynb",
]


def unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its own id for a stand-in notebook, else its file."""
    return nodeid if nodeid.startswith(SPLIT) else nodeid.split("::", 1)[0]


def rank(nodeid: str) -> int:
    """Where the test's unit starts: its place in LONGEST_FIRST, or after all of them."""
    name = unit(nodeid)
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def longest_first(items: list) -> None:
    """Sort the collected tests, in place, by their unit's rank (stable: a file keeps its own order)."""
    items.sort(key=lambda item: rank(item.nodeid))


class LongestFirst(LoadScopeScheduling):
    """xdist's scheduling by scope, with ``unit`` as the scope and the collection's order as the queue's."""

    def __init__(self, config, log=None):
        config.option.loadscopereorder = False  # keep longest_first's order (xdist would sort by test count)
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        return unit(nodeid)
