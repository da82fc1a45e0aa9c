"""The demo's second figure: the lecture's three edits (``nti_edu.lecture_examples``) on held-out scenes.

Face -> face with sunglasses, dog -> cat, portrait -> abstract painting, each null-text inverted and edited
with the settings the reports chose; ``lecture.png`` shows (input, null-text reconstruction, edit, the
world's own drawing of the target) per example. Examples whose words the model does not know are named and
skipped (the model shipped before issue 37 knows no dog, cat or painting).
"""
from __future__ import annotations

import time

from .common import note


def lecture_part(model, steps: int, inner_steps: int, figure_path) -> dict:
    """Run the examples the model knows, draw ``lecture.png``: metrics.json's "lecture_examples",
    "lecture_examples_skipped" and the seconds it took ("seconds")."""
    from .. import viz

    start = time.perf_counter()
    done, skipped = lecture_examples(model, steps, inner_steps)
    if done:
        viz.save_image_grid(figure_rows(done), figure_path,
                            title=f"{model.name}: the lecture's edits, after null-text inversion")
    return {"lecture_examples": records(done), "lecture_examples_skipped": [e.lecture for e in skipped],
            "seconds": round(time.perf_counter() - start, 2)}


def lecture_examples(model, steps: int, inner_steps: int) -> tuple[list[dict], list]:
    """(one record per example the model knows, its scenes inverted as one batch; the examples it skips)."""
    from ..lecture_examples import EXAMPLES, known, run_examples

    known_ones = [e for e in EXAMPLES if known(model, e)]
    skipped = [e for e in EXAMPLES if e not in known_ones]
    for example in skipped:
        note(f"the lecture's {example.lecture!r}: this model's vocabulary lacks its words; skipped")
    done = run_examples(model, known_ones, steps=steps, inner_steps=inner_steps, evaluator=judge_for(model)) \
        if known_ones else []
    for out in done:
        out["verdict"] = None if out["success"] is None else bool(out["success"][0])
    return done, skipped


def judge_for(model):
    """The shipped evaluator, where it can judge this model's images (the world's side); else None."""
    from ..evaluator import ASSET_DIR, load_evaluator
    from ..world import IMAGE_SIDE

    if model.image_size != IMAGE_SIDE or not (ASSET_DIR / "model.safetensors").is_file():
        return None
    return load_evaluator()


def records(done: list[dict]) -> list[dict]:
    """metrics.json's "lecture_examples": the lecture's words, the prompts, the evaluator's verdict."""
    return [{"lecture": out["example"].lecture, "prompt": out["prompts"][0], "target_prompt": out["target_prompts"][0],
             "setting": out["example"].setting.label(), "edit_shows_target": out["verdict"]}
            for out in done]


def figure_rows(done: list[dict]) -> list[list[tuple]]:
    ok = {True: " (ok)", False: " (missed)", None: ""}
    return [[(out["images"][0], out["example"].lecture),
             (out["reconstructions"][0], "null-text reconstruction"),
             (out["edited"][0], "edit" + ok[out["verdict"]]), (out["drawn_targets"][0], "the world's target")]
            for out in done]
