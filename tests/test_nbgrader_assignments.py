"""The seven course assignments, released and graded by nbgrader itself (issue 30).

A temporary course directory gets ``assignments/source`` and ``assignments/nbgrader_config.py``;
``nbgrader generate_assignment`` makes the student versions (compared with the committed ones in
``assignments/release``) and ``nbgrader autograde`` grades them with its real SQLite gradebook, one call per
assignment for all its students: the untouched release (0 points), the solution (every autograded point), and
typical wrong answers, each a patch of the solution (answer cell, text, wrong text) that must cost exactly the
points of its part. By default one student hands in the first wrong answer of every part (each check must
fail, with a message that names the mistake); with --runslow two more hand in those of the odd and of the even
parts, and every wrong answer is handed in alone (each must cost exactly its part's points). What a "student"
hands in is the source notebook's solution cells without their two marker lines.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "assignments"
NAMES = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# assignment -> [(check cell that must lose its points, wrong answer's name, answer cell, solution text, wrong text)],
# in the order of the parts; the first wrong answer of each part is also handed in together with other parts' ones
WRONG = {
    "01_ddim_recap": [
        ("sigma-check", "sigma-no-sqrt", "sigma-answer", "alpha_bar_prev)) ** 0.5", "alpha_bar_prev))"),
        ("step-check", "step-swapped-alphas", "step-answer", "/ alpha_bar_t**0.5", "/ alpha_bar_prev**0.5"),
        ("step-check", "step-no-sigma-in-direction", "step-answer", "1 - alpha_bar_prev - sigma_t**2",
         "1 - alpha_bar_prev"),
        ("sampler-check", "sampler-eps-at-t-prev", "sampler-answer", "predict_eps(x_t, step.t,",
         "predict_eps(x_t, step.t_prev,"),
        ("sampler-check", "sampler-hard-coded-3-steps", "sampler-answer", "steps(num_steps)", "steps(3)"),
    ],
    "02_ddim_inversion": [
        ("inverse-step-check", "inverse-swapped-alphas", "inverse-step-answer", "return alpha_bar_next**0.5",
         "return alpha_bar_t**0.5"),
        ("invert-check", "invert-eps-at-t-prev", "invert-answer", "predict_eps(x_t, step.t,",
         "predict_eps(x_t, step.t_prev,"),
        ("invert-check", "invert-cleanest-first", "invert-answer", "return trajectory[::-1]", "return trajectory"),
        ("drift-check", "drift-sampled-at-default-w", "drift-answer", "num_steps=num_steps, w=1.0)",
         "num_steps=num_steps)"),
        ("ratio-check", "ratio-upside-down", "ratio-answer", "drift_curve[2] / drift_curve[10]",
         "drift_curve[10] / drift_curve[2]"),
    ],
    "03_guidance_and_inversion": [
        ("guidance-check", "guidance-sign", "guidance-answer", "w * (eps_cond - eps_null)", "w * (eps_null - eps_cond)"),
        ("reconstruction-check", "reconstruction-inverted-at-w1", "reconstruction-answer",
         "ddim_inverse_step(x_t, eps_at(x_t, step.t)", "ddim_inverse_step(x_t, model.predict_eps(x_t, step.t, emb_cond)"),
        ("measure-check", "measure-inverted-at-default-w", "measure-answer", "num_steps=5, w=w)[0]", "num_steps=5)[0]"),
    ],
    "04_null_text_inversion": [
        ("loss-check", "loss-swapped-branches", "loss-answer", "guided_eps(eps_null, eps_cond, w)",
         "guided_eps(eps_cond, eps_null, w)"),
        ("inner-loop-check", "inner-no-lr-decay", "inner-loop-answer", "lr=1e-2 * (1 - step.i / 100)", "lr=1e-2"),
        ("inner-loop-check", "inner-constant-threshold", "inner-loop-answer", "< 1e-5 + 2e-5 * step.i:", "< 1e-5:"),
        ("inner-loop-check", "inner-stop-before-update", "inner-loop-answer",
         "        optimizer.zero_grad()\n        loss.sum().backward()\n        optimizer.step()\n"
         "        if losses[-1] < 1e-5 + 2e-5 * step.i:  # the official early stop, after the update\n            break\n",
         "        if losses[-1] < 1e-5 + 2e-5 * step.i:\n            break\n"
         "        optimizer.zero_grad()\n        loss.sum().backward()\n        optimizer.step()\n"),
        ("outer-loop-check", "outer-advance-with-empty-null", "outer-loop-answer",
         "model.predict_eps(x_t, step.t, emb_null), eps_cond",
         "model.predict_eps(x_t, step.t, model.null_embedding(x_t.shape[0])), eps_cond"),
    ],
    "05_editing": [
        ("swap-check", "swap-into-null-target", "swap-answer", "out[3] = mapped", "out[1] = mapped"),
        ("swap-check", "swap-ignores-token-alpha", "swap-answer",
         "out[3] = mapped * token_alpha + target * (1 - token_alpha)", "out[3] = mapped"),
        ("swap-check", "swap-transposed-mapper", "swap-answer", 'einsum("hpw,wn->hpn", source, mapper)',
         'einsum("hpw,wn->hpn", source, mapper.T)'),
        ("blend-check", "blend-reversed", "blend-answer", "return x_t[:1] + mask * (x_t - x_t[:1])",
         "return x_t + mask * (x_t[:1] - x_t)"),
        ("blend-check", "blend-no-union", "blend-answer", "(inside[:1] | inside).float()", "inside.float()"),
    ],
    "06_beyond_null_text": [
        ("negative-prompt-check", "negative-with-empty-null", "negative-prompt-answer", "emb_null=emb_cond)",
         "emb_null=model.null_embedding(emb_cond.shape[0]))"),
        ("direct-check", "direct-not-back-on-pivot", "direct-answer", "x_t = x_prev + gaps[-1]", "x_t = x_prev"),
    ],
    "07_why_null_text": [
        ("cond-loss-check", "cond-loss-swapped-branches", "cond-loss-answer", "guided_eps(eps_null, eps_cond, w)",
         "guided_eps(eps_cond, eps_null, w)"),
        ("ti-loop-check", "ti-advance-with-prompt", "ti-loop-answer", "model.predict_eps(x_t, step.t, emb), w)",
         "model.predict_eps(x_t, step.t, emb_cond), w)"),
    ],
}
CASES = [(name, *case) for name in NAMES for case in WRONG[name]]
WRONG_CHECK = {(name, cell): check for name in NAMES for check, _, cell, *_ in WRONG[name]}  # answer cell -> check
# the mistake each wrong answer's feedback must name (a part of its "Most likely" sentence)
DIAGNOSIS = {
    "sigma-no-sqrt": "square root is missing", "step-swapped-alphas": "divides by sqrt(alpha_bar_prev)",
    "step-no-sigma-in-direction": "lacks sigma_t**2", "sampler-eps-at-t-prev": "asked at step.t_prev",
    "sampler-hard-coded-3-steps": "3 steps instead of num_steps = 4", "inverse-swapped-alphas": "re-noised with",
    "invert-eps-at-t-prev": "asked at step.t_prev", "invert-cleanest-first": "the list is cleanest first",
    "drift-sampled-at-default-w": "sampled back at w = 7.5", "ratio-upside-down": "upside down",
    "guidance-sign": "wrong sign", "reconstruction-inverted-at-w1": "the inversion runs at w = 1",
    "measure-inverted-at-default-w": "ddim_invert's default w = 1", "loss-swapped-branches": "swapped",
    "inner-no-lr-decay": "does not decay", "inner-constant-threshold": "threshold does not grow",
    "inner-stop-before-update": "before the update", "outer-advance-with-empty-null": "advance",
    "swap-into-null-target": "null target", "swap-ignores-token-alpha": "token_alpha is ignored",
    "swap-transposed-mapper": "transposed", "blend-reversed": "reversed", "blend-no-union": "union",
    "negative-with-empty-null": "embedding (plain DDIM", "direct-not-back-on-pivot": "drifted x_prev",
    "cond-loss-swapped-branches": "branches are swapped", "ti-advance-with-prompt": "advance uses psi(P)",
}
# correct answers written differently from the solution: each must keep every point of its part
CORRECT_VARIANTS = {
    "02_ddim_inversion": {"drift-answer": (  # my_invert called with its step count by name (issue 35, item 1)
        "my_invert(model, x_0, emb_cond, num_steps)", "my_invert(model, x_0, emb_cond, num_steps=num_steps)")},
    "03_guidance_and_inversion": {"measure-answer": (".sqrt().item()", ".sqrt().item() * 1.0")},
    "05_editing": {"swap-answer": ('torch.einsum("hpw,wn->hpn", source, mapper)', "source @ mapper")},
}
# answers that call the package's own implementation of their part: every such check must fail and say so
WRAPPED = {
    "01_ddim_recap": {
        "sigma-answer": "from nti_edu.ddim import ddim_sigma\n\ndef my_sigma(alpha_bar_t, alpha_bar_prev, eta):\n"
                        "    return ddim_sigma(alpha_bar_t, alpha_bar_prev, eta)",
        "step-answer": "def my_ddim_step(x_t, eps_pred, alpha_bar_t, alpha_bar_prev, eta=0.0, noise=None):\n"
                       "    return nti_edu.ddim.ddim_step(x_t, eps_pred, alpha_bar_t, alpha_bar_prev, eta, noise)",
        "sampler-answer": "def my_sample(model, x_T, emb_cond, num_steps):\n    from nti_edu.sampling import sample\n"
                          "    return sample(model, x_T, emb_cond, num_steps=num_steps, w=1.0)"},
    "02_ddim_inversion": {
        "inverse-step-answer": "def my_inverse_step(x_t, eps_pred, alpha_bar_t, alpha_bar_next):\n"
                               "    return nti_edu.ddim.ddim_inverse_step(x_t, eps_pred, alpha_bar_t, alpha_bar_next)",
        "invert-answer": "def my_invert(model, x_0, emb_cond, num_steps):\n"
                         "    return mistakes.invert_with(model, x_0, emb_cond, num_steps)",
        "drift-answer": "def reconstruction_error(model, x_0, emb_cond, num_steps):\n"
                        "    return reference_error(x_0, emb_cond, num_steps)"},
    "03_guidance_and_inversion": {
        "guidance-answer": "def my_guided_eps(eps_null, eps_cond, w):\n"
                           "    return nti_edu.guidance.guided_eps(eps_null, eps_cond, w)",
        "reconstruction-answer": "def guided_reconstruction(model, x_0, emb_cond, w, num_steps):\n"
                                 "    x_T = ddim_invert(model, x_0, emb_cond, num_steps=num_steps, w=w)[0]\n"
                                 "    return sample(model, x_T, emb_cond, num_steps=num_steps, w=w)"},
    "04_null_text_inversion": {
        "loss-answer": "def my_pivotal_loss(model, step, x_t, eps_cond, emb_null, pivot, w):\n"
                       "    return nti_edu.null_text.pivotal_loss(model, step, x_t, eps_cond, emb_null, pivot, w)",
        "inner-loop-answer": "def my_tune_null(model, step, x_t, eps_cond, emb_null, pivot, num_inner_steps, w):\n"
                             "    return mistakes.tune_with(model, step, x_t, eps_cond, emb_null, pivot, "
                             "num_inner_steps, w)",
        "outer-loop-answer": "def my_null_text(model, latents, emb_cond, num_inner_steps, w):\n"
                             "    return nti_edu.null_text.optimize_nulls(model, latents, emb_cond, "
                             "num_inner_steps=num_inner_steps, w=w, progress=False)[0]"},
    "05_editing": {
        "swap-answer": "def my_word_swap(probs, heads, mapper, token_alpha):\n"
                       "    return mistakes.word_swap_with(probs, heads, mapper, token_alpha)",
        "blend-answer": "def my_local_blend(x_t, word_maps, threshold):\n"
                        "    return mistakes.local_blend_with(x_t, word_maps, threshold)"},
    "06_beyond_null_text": {
        "direct-answer": "def my_direct_corrections(model, latents, emb_cond, w):\n"
                         "    return nti_edu.alternatives.direct_corrections(model, latents, emb_cond, "
                         "model.null_embedding(emb_cond.shape[0]), w)"},
    "07_why_null_text": {
        "cond-loss-answer": "def my_cond_pivotal_loss(model, step, x_t, eps_null, emb_cond, pivot, w):\n"
                            "    return nti_edu.ablations.cond_pivotal_loss(model, step, x_t, eps_null, emb_cond, "
                            "pivot, w)",
        "ti-loop-answer": "def my_textual_inversion_pivot(model, latents, emb_cond, num_inner_steps, w):\n"
                          "    return mistakes.textual_inversion_with(model, latents, emb_cond, num_inner_steps, w)"},
}
# numbers copied from the visible curve: the hidden recomputation on another image must fail them
COPIED = {"02_ddim_inversion": ("ratio-answer", "ratio-check", "def drift_ratio(drift_curve):\n    return {value!r}\n\n\n"
                                "DRIFT_RATIO = drift_ratio(drift_curve)"),
          "03_guidance_and_inversion": ("measure-answer", "measure-check",
                                        "def measured_error(x_0, emb_cond, w):\n    return {{1.0: {w1!r}, 7.5: {w75!r}}}.get(w, {w75!r})\n\n\n"
                                        "ERROR_W1, ERROR_W75 = measured_error(x_0, emb_cond, 1.0), measured_error(x_0, emb_cond, 7.5)")}


def first_wrong_answers(name: str) -> dict[str, tuple]:
    """{check cell: its part's first wrong answer}, in the order of the parts."""
    firsts = {}
    for check, *case in WRONG[name]:
        firsts.setdefault(check, case)
    return firsts


def together(name: str) -> dict[str, list[str]]:
    """Two students who each get several parts wrong at once: parts 1, 3, ... and parts 2, 4, ... (check cells).

    A part that calls an earlier one is checked with the package's version of it, so the wrong parts of one
    student must not cost the right parts between them any point.
    """
    checks = list(first_wrong_answers(name))
    return {"wrong-odd-parts": checks[0::2], "wrong-even-parts": checks[1::2]}


def submit_wrong(course: Path, name: str, student: str, checks: list[str]) -> None:
    """Hand in the solution with the first wrong answer of each part in ``checks`` as ``student``."""
    firsts = first_wrong_answers(name)
    submit(course, name, student, wrong_answers(name, [firsts[check][1:] for check in checks]))


def nbgrader(course: Path, *args: str) -> str:
    """Run the nbgrader command in ``course``; it runs ``alembic`` as a program, so this environment's bin is on PATH."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def notebook(folder: Path, name: str):
    return nbformat.read(folder / name / f"{name}.ipynb", as_version=4)


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def answers(name: str) -> dict[str, str]:
    """The solution cells of the source notebook as a student would hand them in: {cell id: source}."""
    cells = notebook(COURSE / "source", name).cells
    return {grade_id(c): "\n".join(line for line in c.source.splitlines() if line.strip() not in MARKERS)
            for c in cells if c.metadata.get("nbgrader", {}).get("solution")}


def submit(course: Path, name: str, student: str, replaced: dict[str, str]) -> None:
    """Hand in the released notebook with the cells ``replaced`` ({cell id: source}) as ``student``."""
    nb = notebook(course / "release", name)
    for cell in nb.cells:
        cell.source = replaced.get(grade_id(cell), cell.source)
    folder = course / "submitted" / student / name
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course directory with the six assignments generated by nbgrader from the committed sources."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(COURSE / "source", course / "source")
    shutil.copy(COURSE / "nbgrader_config.py", course)
    for name in NAMES:
        nbgrader(course, "generate_assignment", name, "--force")
    return course


def wrong_answers(name: str, patches) -> dict[str, str]:
    """The solution with each (answer cell, solution text, wrong text) of ``patches`` applied."""
    cells = answers(name)
    for cell_id, text, wrong in patches:
        assert cells[cell_id].count(text) == 1, f"the patch text is not (once) in {name}'s cell {cell_id}: {text!r}"
        cells[cell_id] = cells[cell_id].replace(text, wrong)
    return cells


def gradebook(course: Path) -> dict:
    """{(assignment, student): {check cell: (score, max score, needs a manual grade)}}, read from gradebook.db."""
    grades = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        for name in NAMES:
            for submission in book.assignment_submissions(name):
                grades[name, submission.student_id] = {
                    g.name: (g.score, g.max_score, g.needs_manual_grade) for nb in submission.notebooks for g in nb.grades}
    return grades


@pytest.fixture(scope="module")
def graded(course) -> dict:
    """Three students per assignment, autograded in one nbgrader call per assignment: the untouched release, the
    solution, and "wrong-every-part", who hands in the first wrong answer of every part."""
    for name in NAMES:
        submit(course, name, "untouched", {})
        submit(course, name, "solution", answers(name))
        submit_wrong(course, name, "wrong-every-part", list(first_wrong_answers(name)))
        nbgrader(course, "autograde", name)
    return gradebook(course)


@pytest.fixture(scope="module")
def graded_more(course, graded):
    """``grades(name)``: assignment ``name`` graded again with more students (nbgrader autograde skips those it
    graded before): the odd and the even parts wrong (``together``), and every wrong answer alone."""
    done = {}

    def grades(name: str) -> dict:
        if name not in done:
            for student, checks in together(name).items():
                submit_wrong(course, name, student, checks)
            for _, student, cell_id, text, wrong in WRONG[name]:
                submit(course, name, student, wrong_answers(name, [(cell_id, text, wrong)]))
            nbgrader(course, "autograde", name)
            done[name] = {student: g for (n, student), g in gradebook(course).items() if n == name}
        return done[name]

    return grades


def copied_answer(course: Path, name: str) -> str:
    """The number answer of ``name`` as a student who copies what the solution's notebook printed would write it."""
    import re

    cell, _, template = COPIED[name]
    text = "\n".join(o.get("text", "") for c in notebook(course / "autograded" / "solution", name).cells
                     for o in c.get("outputs", []))
    if name == "02_ddim_inversion":
        curve = {int(n): float(e) for n, e in re.findall(r"(\d+): ([\d.]+)", text.split("by number of steps:")[1])}
        return template.format(value=round(curve[2] / curve[10], 2))
    w1, w75 = re.search(r"w = 1: ([\d.]+); w = 7.5: ([\d.]+)", text).groups()
    return template.format(w1=float(w1), w75=float(w75))


@pytest.fixture(scope="module")
def graded_extra(course, graded) -> dict:
    """More students, graded after ``graded``: correct answers written otherwise ("correct-variant"), answers that
    wrap the package's implementation of every part ("wrapped"), numbers copied from the solution ("copied")."""
    for name in NAMES:
        if name in CORRECT_VARIANTS:
            cells = answers(name)
            for cell_id, (text, variant) in CORRECT_VARIANTS[name].items():
                assert cells[cell_id].count(text) == 1, (name, cell_id, text)
                cells[cell_id] = cells[cell_id].replace(text, variant)
            submit(course, name, "correct-variant", cells)
        submit(course, name, "wrapped", answers(name) | WRAPPED[name])
        if name in COPIED:
            submit(course, name, "copied", answers(name) | {COPIED[name][0]: copied_answer(course, name)})
        nbgrader(course, "autograde", name)
    return gradebook(course)


def error_message(course: Path, name: str, student: str, check: str) -> str:
    """The error the autograded notebook shows under the check cell ``check``."""
    nb = notebook(course / "autograded" / student, name)
    errors = [o for c in nb.cells if grade_id(c) == check for o in c.outputs if o.output_type == "error"]
    assert errors, f"{student}'s {check} shows no error"
    return f"{errors[0].ename}: {errors[0].evalue}"


@pytest.mark.full
@pytest.mark.parametrize("name", NAMES)
def test_committed_student_versions_are_what_nbgrader_generates(course, name):
    generated, committed = notebook(course / "release", name), notebook(COURSE / "release", name)
    assert [(c.cell_type, c.get("id"), c.source) for c in committed.cells] == \
           [(c.cell_type, c.get("id"), c.source) for c in generated.cells], \
        f"assignments/release/{name} is out of date: cd assignments && nbgrader generate_assignment {name} --force"


@pytest.mark.parametrize("name", NAMES)
def test_source_notebooks_carry_nbgrader_cells(name):
    cells = notebook(COURSE / "source", name).cells
    meta = [c.metadata.get("nbgrader", {}) for c in cells]
    autograded = [c for c, m in zip(cells, meta) if m.get("grade") and not m.get("solution")]
    written = [c for c, m in zip(cells, meta) if m.get("grade") and m.get("solution")]
    assert 2 <= len(autograded) <= 4 and len(written) >= 1
    assert all(any(k in c.source for k in ("assert", "check_close(", "check_number(")) for c in autograded)
    assert sum("### BEGIN HIDDEN TESTS" in c.source for c in autograded) >= 2  # the same checks on other inputs
    assert all(c.cell_type == "markdown" and "Model answer (for instructors)" in c.source for c in written)
    assert all(m.get("locked") for c, m in zip(cells, meta) if not m.get("solution"))  # the rest is read-only
    assert all(m.get("points", 0) > 0 for m in meta if m.get("grade"))


@pytest.mark.parametrize("name", NAMES)
def test_student_versions_hide_answers_and_run_without_nbgrader(name):
    nb = notebook(COURSE / "release", name)
    text = (COURSE / "release" / name / f"{name}.ipynb").read_text()
    for marker in (*MARKERS, "### BEGIN HIDDEN TESTS", "Model answer"):
        assert marker not in text
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "nbgrader" not in code  # the visible checks run on Colab without nbgrader
    assert code.count("raise NotImplementedError()") >= 2
    assert f"blob/main/assignments/release/{name}/{name}.ipynb" in nb.cells[0].source  # its Colab badge
    assert "student's guide" in nb.cells[0].source


def test_the_instructors_guide_lists_every_assignments_points():
    guide = (COURSE / "README.md").read_text()
    for name in NAMES:
        meta = [c.metadata.get("nbgrader", {}) for c in notebook(COURSE / "source", name).cells]
        auto = sum(m["points"] for m in meta if m.get("grade") and not m.get("solution"))
        manual = sum(m["points"] for m in meta if m.get("grade") and m.get("solution"))
        assert f"| {name} | {auto} | {manual} | {auto + manual} |" in guide, f"the points table's row of {name}"


@pytest.mark.full
@pytest.mark.parametrize("name", NAMES)
def test_untouched_release_scores_zero(graded, name):
    grades = graded[name, "untouched"]
    assert grades and all(score == 0 and not manual for score, _, manual in grades.values()), grades


@pytest.mark.full
@pytest.mark.parametrize("name", NAMES)
def test_solution_gets_every_autograded_point(graded, name):
    grades = graded[name, "solution"]
    auto = {cell: (score, top) for cell, (score, top, manual) in grades.items() if not manual}
    assert auto and all(score == top for score, top in auto.values()), auto
    assert any(manual for *_, manual in grades.values())  # the written answers wait for the instructor


@pytest.mark.full
@pytest.mark.parametrize("name", NAMES)
def test_each_parts_typical_wrong_answer_fails_its_check_with_a_message(course, graded, name):
    grades = graded[name, "wrong-every-part"]
    lost = {c for c, (score, top, manual) in grades.items() if score < top and not manual}
    assert lost == set(first_wrong_answers(name)), grades
    for check in lost:  # the feedback says what was expected and the likely mistake, not a bare AssertionError
        message = error_message(course, name, "wrong-every-part", check)
        assert message.startswith("AssertionError") and "Most likely" in message, message


@pytest.mark.full
@pytest.mark.parametrize("name", NAMES)
def test_the_feedback_names_each_wrong_answers_mistake(course, graded, name):
    for check, (wrong_name, *_) in first_wrong_answers(name).items():
        message = error_message(course, name, "wrong-every-part", check)
        assert "Most likely: " in message and DIAGNOSIS[wrong_name] in message.split("Most likely: ")[1], message


@pytest.mark.full
@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_answers_written_otherwise_keep_full_marks(graded_extra, name):
    grades = graded_extra[name, "correct-variant"]
    assert grades and all(score == top for score, top, manual in grades.values() if not manual), grades


@pytest.mark.full
@pytest.mark.parametrize("name", NAMES)
def test_wrapping_the_packages_implementation_earns_nothing(course, graded_extra, name):
    grades = graded_extra[name, "wrapped"]
    lost = {c for c, (score, top, manual) in grades.items() if score < top and not manual}
    assert lost >= {WRONG_CHECK[name, cell] for cell in WRAPPED[name]}, grades
    for cell in WRAPPED[name]:
        assert "calls the package's own" in error_message(course, name, "wrapped", WRONG_CHECK[name, cell])


@pytest.mark.full
@pytest.mark.parametrize("name", sorted(COPIED))
def test_copied_numbers_fail_the_hidden_recomputation_without_showing_the_value(course, graded_extra, name):
    _, check, _ = COPIED[name]
    grades = graded_extra[name, "copied"]
    assert grades[check][0] == 0 < grades[check][1], grades
    message = error_message(course, name, "copied", check)
    assert "another image" in message and "does not match a common mistake" in message, message


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_wrong_parts_lose_exactly_their_points(graded_more, name):
    grades = graded_more(name)
    for student, checks in together(name).items():
        lost = {c for c, (score, top, manual) in grades[student].items() if score < top and not manual}
        assert lost == set(checks), f"{student} should lose the points of {checks} alone: {grades[student]}"
        assert {c: g for c, g in grades[student].items() if c not in checks} == \
               {c: g for c, g in grades["solution"].items() if c not in checks}


@pytest.mark.slow
@pytest.mark.parametrize("name, check, student, cell_id, text, wrong", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_each_wrong_answer_alone_loses_exactly_its_parts_points(course, graded_more, name, check, student, cell_id,
                                                                 text, wrong):
    grades, solution = graded_more(name)[student], graded_more(name)["solution"]
    assert grades[check][0] == 0 < grades[check][1], f"{student}: {check} should fail, got {grades[check]}"
    assert {c: g for c, g in grades.items() if c != check} == {c: g for c, g in solution.items() if c != check}
    assert "Most likely" in error_message(course, name, student, check)


@pytest.mark.full
def test_generate_feedback_writes_the_hint_for_the_student(course, graded):
    nbgrader(course, "generate_feedback", "05_editing", "--student", "wrong-every-part")
    html = (course / "feedback" / "wrong-every-part" / "05_editing" / "05_editing.html").read_text()
    assert "Most likely" in html and "null target" in html
