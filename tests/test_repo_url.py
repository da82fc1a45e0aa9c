"""The repository URL has one source, pyproject.toml's [project.urls] Repository (issue 35, item 7): every Colab
badge, install cell and link to this package's repository (lecture notebooks, README, assignments, guide) names it,
and scripts/clean_notebooks.py stamps a fork's URL everywhere, nbgrader checksums included."""
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.utils import compute_checksum

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import clean_notebooks  # noqa: E402

FORK = "a-course/nti_edu-fork"


def stamped_files():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    paths = [ROOT / p for p in tracked.split() if p.endswith((".ipynb", ".md", ".py", ".toml", ".yml", ".sh"))]
    return [p for p in paths if p.is_file()]


def test_pyproject_names_the_repository():
    assert clean_notebooks.repository() == "nti-edu/nti_edu"


def test_every_link_to_the_repository_names_pyprojects():
    linked = {p.relative_to(ROOT).as_posix(): clean_notebooks.linked_repos(p.read_text()) for p in stamped_files()}
    assert {name for repos in linked.values() for name in repos} == {clean_notebooks.REPO}
    for must_link in ("README.md", "assignments/README.md", "notebooks/01_ddim_recap.ipynb",
                      "assignments/source/05_editing/05_editing.ipynb",
                      "assignments/release/05_editing/05_editing.ipynb"):
        assert linked[must_link], f"{must_link} links to the repository"


def test_a_fork_is_stamped_everywhere_with_valid_checksums():
    path = ROOT / "assignments/release/01_ddim_recap/01_ddim_recap.ipynb"
    text = clean_notebooks.release_text(path.read_text(), FORK)
    assert clean_notebooks.linked_repos(text) == {FORK} and "nti-edu/nti_edu" not in text
    for cell in nbformat.reads(text, as_version=4).cells:
        if "checksum" in cell.metadata.get("nbgrader", {}):
            assert cell.metadata.nbgrader.checksum == compute_checksum(cell)
    guide = clean_notebooks.stamp_repo((ROOT / "assignments/README.md").read_text(), FORK)
    assert clean_notebooks.linked_repos(guide) == {FORK} and "nti-edu/nti_edu" not in guide
    other = "[official](https://github.com/google/prompt-to-prompt/blob/main/null_text_w_ptp.ipynb)"
    assert clean_notebooks.stamp_repo(other, FORK) == other
