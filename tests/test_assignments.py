"""The students' notebooks: generated from the solutions, failing their checks as handed out, passing once solved.

The exercise and check cells are executed on their own (``exec`` in a namespace holding what the
notebook's earlier cells would have defined), which takes a second instead of a kernel's start-up.
"""
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from nti_edu.ddim import ddim_step
from nti_edu.guidance import guided_eps
from nti_edu.lecture import world_examples
from nti_edu.null_text import pivots

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import make_assignments  # noqa: E402

NAMES = make_assignments.SOURCES


def cells(path: Path, kind: str) -> list[str]:
    """Sources of the nbgrader exercise ("solution") or check ("grade") cells of a notebook, in order."""
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get(kind)]


def solved(name):
    return ROOT / "notebooks" / name


def handed_out(name):
    return ROOT / "assignments" / name


def test_assignments_are_generated_from_the_current_solutions():
    assert make_assignments.main(["--check"]) == 0, "run python scripts/make_assignments.py"


@pytest.mark.parametrize("name", NAMES)
def test_student_versions_hide_the_answers_and_the_hidden_tests(name):
    text = handed_out(name).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    exercises, checks = cells(handed_out(name), "solution"), cells(handed_out(name), "grade")
    assert len(exercises) == len(checks) == 1
    assert exercises[0].rstrip().endswith("# YOUR CODE HERE\n    raise NotImplementedError()")
    assert "assert" in checks[0]
    # the solution notebook's check cell has more tests than the student's: the hidden ones
    assert len(cells(solved(name), "grade")[0]) > len(checks[0]) + 100
    nb = nbformat.read(handed_out(name), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert f"colab.research.google.com/github/{make_assignments.clean_notebooks.REPO}/blob/main/assignments/{name}" in text


def run(namespace: dict, *sources: str) -> dict:
    for source in sources:
        exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


def test_inverse_step_exercise_fails_as_handed_out_and_passes_when_solved():
    name = "02_ddim_inversion.ipynb"
    (student,), (check,) = cells(handed_out(name), "solution"), cells(handed_out(name), "grade")
    (answer,), (full_check,) = cells(solved(name), "solution"), cells(solved(name), "grade")
    with pytest.raises(NotImplementedError):
        run({"torch": torch}, student, check)
    run({"torch": torch}, answer, check)
    run({"torch": torch}, answer, full_check)
    # a wrong answer (the alphas swapped) fails the check
    wrong = answer.replace("alpha_bar_next**0.5 * x0_pred", "alpha_bar_t**0.5 * x0_pred")
    assert wrong != answer
    with pytest.raises(AssertionError):
        run({"torch": torch}, wrong, full_check)


@pytest.fixture(scope="module")
def null_text_namespace(tiny_model):
    """What notebook 04's cells before the exercise define, with the tiny model and 10 steps."""
    images, prompts, _ = world_examples(2, tiny_model.image_size)
    latents, emb_cond, _ = pivots(tiny_model, images, prompts, num_steps=10)
    return {"torch": torch, "model": tiny_model, "latents": latents, "emb_cond": emb_cond,
            "emb_null": tiny_model.null_embedding(2), "W": 7.5, "ddim_step": ddim_step, "guided_eps": guided_eps}


def test_null_text_exercise_fails_as_handed_out_and_passes_when_solved(null_text_namespace):
    name = "04_null_text_inversion.ipynb"
    (student,), (check,) = cells(handed_out(name), "solution"), cells(handed_out(name), "grade")
    (answer,), (full_check,) = cells(solved(name), "solution"), cells(solved(name), "grade")
    with pytest.raises(NotImplementedError):
        run(dict(null_text_namespace), student, check)
    run(dict(null_text_namespace), answer, check)
    run(dict(null_text_namespace), answer, full_check)
    # a wrong answer (the gradient step never taken) fails the check
    wrong = answer.replace("        optimizer.step()\n", "")
    assert wrong != answer
    with pytest.raises(AssertionError):
        run(dict(null_text_namespace), wrong, full_check)
