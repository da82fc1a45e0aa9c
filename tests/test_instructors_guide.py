"""The instructor's guide (assignments/README.md) rehearsed as written (issue 35, item 6).

Its step-by-step section's shell blocks run in order, in one bash, with HOME a temporary folder: the course folder
is a fresh copy of the tracked files of ``assignments/`` made by the guide's own ``cp`` (outside the checkout), the
assignments are generated into the gradebook, two students added, a zip of hand-ins collected by ``zip_collect``
(alice solved everything, bob got sigma_t's square root wrong), autograded, feedback generated and grades exported.
Left out: ``pip install`` and ``git clone`` (the checkout stands in for the clone), JupyterLab (the formgrader, an
interactive step) and the JupyterHub-only block (it needs an exchange). The hidden-tests option of
``nbgrader_config.py`` is turned on as the guide says, and the feedback must then show neither the hidden tests
nor a traceback.
"""
import csv
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "assignments" / "README.md"
NAME = "01_ddim_recap"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
SKIPPED = ("pip install", "git clone", "cd ~/nti-course && jupyter lab")
IN_ORDER = ("cp -r ~/nti_edu-src/assignments ~/nti-course", "nbgrader generate_assignment", "nbgrader db student add",
            "nbgrader zip_collect", "nbgrader autograde", "nbgrader generate_feedback", "nbgrader export")


def guide_script() -> str:
    """The shell blocks of the guide's step-by-step section, in order, without the lines the rehearsal skips."""
    text = GUIDE.read_text()
    steps = text.split("## Teaching with these assignments, step by step")[1].split("\n## ")[0]
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", steps, re.S) if not b.startswith("# JupyterHub only")]
    lines = [line for block in blocks for line in block.splitlines() if not line.startswith(SKIPPED)]
    return "\n".join(lines)


def test_the_rehearsal_covers_every_step_in_order():
    script = guide_script()
    positions = [script.find(command) for command in IN_ORDER]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), dict(zip(IN_ORDER, positions))


def source_answers() -> dict[str, str]:
    """{cell id: solution text} of the source notebook, as a student would hand it in."""
    nb = nbformat.read(ROOT / "assignments/source" / NAME / f"{NAME}.ipynb", as_version=4)
    return {c.metadata.nbgrader.grade_id: "\n".join(l for l in c.source.splitlines() if l.strip() not in MARKERS)
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def hand_in(answers: dict[str, str]) -> str:
    """The released notebook with ``answers`` in its cells, as a student downloads it from Colab."""
    nb = nbformat.read(ROOT / "assignments/release" / NAME / f"{NAME}.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = answers.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    return nbformat.writes(nb)


def make_home(home: Path) -> None:
    """The clone (tracked files of assignments/ only), the config's hidden-tests option on, and the LMS's zip."""
    tracked = subprocess.run(["git", "ls-files", "assignments"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for path in tracked:
        (home / "nti_edu-src" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, home / "nti_edu-src" / path)
    config = home / "nti_edu-src/assignments/nbgrader_config.py"
    option = re.compile(r"^# ((?:from nb|c\.GenerateFeedback|c\.Execute\.).*)$", re.M)
    config.write_text(option.sub(r"\1", config.read_text()))  # the guide: uncomment the last lines
    answers = source_answers()
    wrong = dict(answers, **{"sigma-answer": answers["sigma-answer"].replace("alpha_bar_prev)) ** 0.5",
                                                                             "alpha_bar_prev))")})
    (home / "Downloads").mkdir()
    with zipfile.ZipFile(home / "Downloads" / f"{NAME}-submissions.zip", "w") as z:
        z.writestr(f"alice/{NAME}.ipynb", hand_in(answers))
        z.writestr(f"bob/{NAME}.ipynb", hand_in(wrong))


@pytest.mark.full
def test_the_guide_run_as_written_ends_with_grades(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    make_home(home)
    env = dict(os.environ, HOME=str(home), PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    done = subprocess.run(["bash", "-c", "set -e -o pipefail\ncd ~\n" + guide_script()], env=env, cwd=home,
                          capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    course = home / "nti-course"
    assert (course / "submitted/bob" / NAME / f"{NAME}.ipynb").is_file()  # zip_collect's regexp read the paths
    with open(course / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == NAME}
    assert float(rows["alice"]["raw_score"]) == 5.0 and float(rows["bob"]["raw_score"]) == 4.0  # sigma: 1 point
    assert float(rows["alice"]["max_score"]) == 7.0  # 5 autograded + 2 for the written answer, still to grade
    feedback = (course / "feedback/bob" / NAME / f"{NAME}.html").read_text()
    assert "square root is missing" in feedback and "Most likely" in feedback
    assert "HIDDEN TESTS" not in feedback and "(981, 961, 0.5)" not in feedback  # a hidden case's line
    assert "most recent call last" not in feedback  # the message alone, no traceback (xmode Minimal)
