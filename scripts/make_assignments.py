"""Make the students' versions of the lecture notebooks, in nbgrader's conventions.

    python scripts/make_assignments.py           # stamp nbgrader metadata on the sources, write assignments/
    python scripts/make_assignments.py --check   # exit 1 if either is out of date

The solution notebooks in ``notebooks/`` are nbgrader "source" notebooks: an exercise cell holds the
answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and the check cell after it holds
autograder tests, some of them between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. This
script gives those cells nbgrader's cell metadata (so instructors can also run ``nbgrader
generate_assignment`` on them) and writes what nbgrader would release, without needing nbgrader: the
answer replaced by ``raise NotImplementedError()``, the hidden tests removed, no outputs.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clean_notebooks  # noqa: E402  (the badge and the cleaning rules)

ROOT = clean_notebooks.ROOT
ASSIGNMENTS = ROOT / "assignments"
SOURCES = ["02_ddim_inversion.ipynb", "04_null_text_inversion.ipynb"]
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CHECK_PREFIX = "# Check"  # an autograder cell's first line
POINTS = 1
NOTE = ("> **Assignment version.** Write your code where a cell says `# YOUR CODE HERE` (delete the "
        "`raise NotImplementedError()` line), then run the check cell below it.")


def solution_region(indent: str) -> str:
    return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"


def strip_solutions(source: str) -> str:
    """Replace each ``### BEGIN SOLUTION`` .. ``### END SOLUTION`` region by a NotImplementedError."""
    pattern = re.compile(rf"^([ \t]*){re.escape(BEGIN_SOLUTION)}\n.*?^[ \t]*{re.escape(END_SOLUTION)}[ \t]*$",
                         re.MULTILINE | re.DOTALL)
    return pattern.sub(lambda m: solution_region(m.group(1)), source)


def strip_hidden_tests(source: str) -> str:
    """Remove each ``### BEGIN HIDDEN TESTS`` .. ``### END HIDDEN TESTS`` region, markers included."""
    pattern = re.compile(rf"^[ \t]*{re.escape(BEGIN_HIDDEN)}\n.*?^[ \t]*{re.escape(END_HIDDEN)}[ \t]*\n?",
                         re.MULTILINE | re.DOTALL)
    return pattern.sub("", source)


def nbgrader_metadata(cell, grade_id: str) -> dict | None:
    """nbgrader's metadata (schema 3) for an exercise or a check cell; None for other cells."""
    if cell.cell_type != "code":
        return None
    if BEGIN_SOLUTION in cell.source:
        return {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": True,
                "task": False}
    if cell.source.startswith(CHECK_PREFIX) or BEGIN_HIDDEN in cell.source:
        return {"grade": True, "grade_id": grade_id, "locked": True, "points": POINTS, "schema_version": 3,
                "solution": False, "task": False}
    return None


def stamp_source(nb, stem: str):
    """Give the exercise and check cells of a solution notebook their nbgrader metadata, in place."""
    for index, cell in enumerate(nb.cells):
        kind = "check" if cell.source.startswith(CHECK_PREFIX) else "exercise"
        meta = nbgrader_metadata(cell, f"{stem}-{kind}-{index:02d}")
        if meta is None:
            cell.metadata.pop("nbgrader", None)
        else:
            cell.metadata["nbgrader"] = meta
    return nb


def release(nb, path: str):
    """The student version of a stamped solution notebook (a new notebook; ``path`` is its repo path)."""
    student = copy.deepcopy(nb)
    for cell in student.cells:
        cell.source = strip_hidden_tests(strip_solutions(cell.source))
        if cell.cell_type == "code":
            cell.outputs = []
    clean_notebooks.clean_notebook(student, path)
    student.cells[0].source += "\n\n" + NOTE
    return student


def targets() -> dict[Path, str]:
    """{file: its text}: the stamped and cleaned sources and their student versions."""
    out = {}
    for name in SOURCES:
        source_path = clean_notebooks.NOTEBOOKS / name
        nb = nbformat.read(source_path, as_version=4)
        stamp_source(nb, Path(name).stem)
        clean_notebooks.clean_notebook(nb, f"notebooks/{name}")
        out[source_path] = nbformat.writes(nb) + "\n"
        out[ASSIGNMENTS / name] = nbformat.writes(release(nb, f"assignments/{name}")) + "\n"
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    texts = targets()
    stale = [p for p, text in texts.items() if not p.is_file() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)} (run python scripts/make_assignments.py)")
        return 1 if stale else 0
    ASSIGNMENTS.mkdir(exist_ok=True)
    for p in stale:
        p.write_text(texts[p])
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
