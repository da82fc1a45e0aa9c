"""The lecture's three examples of editing a real image, in the embedded world.

CS492D lecture 9 ("Image editing via DDIM inversion") shows three edits: a face -> the same face with
sunglasses, a dog -> a cat, a portrait -> an abstract painting. Here each is a held-out scene of the world
(never seen in training), null-text inverted at w = 7.5 (Mokady et al. 2023, Algorithm 1), then edited with
Prompt-to-Prompt (Hertz et al. 2023): a refinement adds the sunglasses, a word swap turns the dog into a cat
(its pose, size, colour and place kept), a refinement paints the portrait (its layout kept).

The settings are the ones the reports chose on training scenes and measured on held-out ones, with the code
that measures them (``nti_edu.report.edits``): the sunglasses in ``benchmarks/null_text_report.md``
(section 3), dog -> cat and the painting in ``benchmarks/README.md`` (issue 37, ``benchmarks/grown_edits.py``;
the painting's in item 15).
A model whose vocabulary lacks an example's words skips it (``known``): the model shipped before issue 37
draws no dogs, cats or paintings.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .images import resize_to
from .report.edits import NULL_TEXT, P2PSetting, edit_one, invert_cases
from .report.scenes import edit_cases
from .world import heldout_seeds

SEED_START = 300_000  # the lecture's scenes: one block of held-out seeds per example, apart from the reports'


@dataclass(frozen=True)
class LectureExample:
    kind: str  # an edit kind of nti_edu.world (ALL_EDIT_KINDS)
    lecture: str  # the lecture's words for it
    setting: P2PSetting  # Prompt-to-Prompt's settings and the target branch's guidance


EXAMPLES = (
    LectureExample("add sunglasses", "a face -> the same face with sunglasses",
                   P2PSetting(0.8, 0.4, 0.6, 1.5, paste_back="added")),
    LectureExample("animal swap", "a dog -> a cat", P2PSetting(0.8, 0.4, None, 2.5)),
    LectureExample("abstract painting", "a portrait -> an abstract painting", P2PSetting(0.1, 1.0, None, 1.0)),
)


def example_cases(example: LectureExample, n: int = 1) -> dict:
    """n held-out scenes of the example (``report.scenes.edit_cases``: edits, images, targets, regions)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    block = SEED_START + 1000 * [e.kind for e in EXAMPLES].index(example.kind)
    return edit_cases(example.kind, heldout_seeds(n, block))


def known(model, example: LectureExample) -> bool:
    """Does the model's vocabulary hold every word of the example's prompts?"""
    e = example_cases(example)["edits"][0]
    try:
        model.encode_prompt([e.source_prompt, e.target_prompt])
    except ValueError:
        return False
    return True


def run_example(model, example: LectureExample, n: int = 1, steps: int = 50, inner_steps: int = 10,
                evaluator=None) -> dict:
    """Invert n held-out scenes of the example and edit them: {"example", "prompts", "target_prompts", "images",
    "drawn_targets", "reconstructions", "edited" ((n, 3, S, S) each), "success" ((n,) bool, or None where the
    evaluator is None or cannot read the target prompts)}."""
    return run_examples(model, [example], n, steps, inner_steps, evaluator)[0]


def run_examples(model, examples, n: int = 1, steps: int = 50, inner_steps: int = 10, evaluator=None) -> list[dict]:
    """``run_example`` for each example, their scenes null-text inverted as one batch (each image keeps its own
    null embeddings, Adam state and early stop, so the batch changes the time, not the result)."""
    if not examples:
        raise ValueError("run_examples needs at least one example (nti_edu.lecture_examples.EXAMPLES)")
    parts = [example_cases(example, n) for example in examples]
    cases = {"edits": [e for part in parts for e in part["edits"]]}
    for key in ("images", "targets"):  # the world's 64-pixel drawings at the model's side S
        cases[key] = resize_to(torch.cat([part[key] for part in parts]), model.image_size).to(model.device)
    null_text = NULL_TEXT | {"num_inner_steps": inner_steps}  # the official defaults otherwise
    result, recon = invert_cases(model, cases, steps, null_text)  # null-text inversion at w = 7.5; (k n, 3, S, S)
    outs = []
    for k, example in enumerate(examples):
        rows = slice(k * n, (k + 1) * n)  # this example's rows of the batch
        edited = torch.cat([edit_one(model, cases, result, i, example.setting)[0]
                            for i in range(rows.start, rows.stop)])  # (n, 3, S, S)
        edits = cases["edits"][rows]
        targets = [e.target_prompt for e in edits]
        outs.append({"example": example, "prompts": [e.source_prompt for e in edits], "target_prompts": targets,
                     "images": cases["images"][rows], "drawn_targets": cases["targets"][rows],
                     "reconstructions": recon[rows], "edited": edited,
                     "success": judged(evaluator, edited, [e.target for e in edits], targets)})
    return outs


def judged(evaluator, edited: torch.Tensor, scenes, prompts) -> torch.Tensor | None:
    """(n,) bool: does each edit show its target prompt? None without an evaluator that reads them."""
    if evaluator is None or not all(evaluator.can_read(scene) for scene in scenes):
        return None
    return evaluator.matches(edited.float().cpu(), prompts)
