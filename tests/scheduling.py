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

# The longest units, longest first: seconds of one worker at one thread in the full tier on a quiet 2-core Intel Xeon
# (AVX-512), 2026-12-07; all units together 2817 s. The rest follow in collection order. Only the order depends on
# this list: a unit missing here runs later, nothing is skipped.
LONGEST_FIRST = [
    "tests/test_nbgrader_assignments.py",  # 498
    SPLIT + "07_why_null_text]",  # 419
    "tests/test_cli_sd15.py",  # 194
    "tests/test_grown_model.py",  # 283 with another job running (2026-12-07): the lecture's edits
    SPLIT + "05_editing]",  # 168
    SPLIT + "06_beyond_null_text]",  # 164
    SPLIT + "03_guidance_and_inversion]",  # 151
    SPLIT + "04_null_text_inversion]",  # 103
    "notebooks/05_editing.ipynb",  # 94
    "tests/test_gpu_session.py",  # 92
    "notebooks/07_why_null_text.ipynb",  # 86
    "notebooks/06_beyond_null_text.ipynb",  # 80
    SPLIT + "02_ddim_inversion]",  # 64
    "notebooks/03_guidance_and_inversion.ipynb",  # 59
    SPLIT + "01_ddim_recap]",  # 55
    "tests/test_instructors_guide.py",  # 53
    "notebooks/04_null_text_inversion.ipynb",  # 47
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
