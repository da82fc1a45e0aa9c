"""Issue 37's candidates load offline and know the grown words (they are not shipped; benchmarks/candidates/)."""
from pathlib import Path

import pytest
import torch

CANDIDATE = Path(__file__).resolve().parents[1] / "benchmarks" / "candidates" / "embedded_animals_style"


@pytest.mark.full  # loading a model: ~30 s on the loaded 2-core CPU
def test_the_grown_candidate_loads_and_encodes_the_new_words():
    from nti_edu.models import load_model

    model = load_model(str(CANDIDATE))
    prompts = ["an abstract painting of a yellow face on a green background",
               "a large brown dog at the top left on a blue background", ""]
    emb = model.encode_prompt(prompts)  # (3, 16, 128)
    assert emb.shape == (3, 16, 128) and torch.isfinite(emb).all()
    assert model.tokenizer.convert_tokens_to_ids(["dog", "cat", "abstract", "painting", "of"]) == [40, 41, 42, 43, 44]
    assert model.text_encoder.config.vocab_size == 45


@pytest.mark.full  # six null-text inversions (one batch) and edits at 50 steps: 4.6 min on a loaded 2-core CPU
def test_the_lecture_examples_succeed_on_the_grown_candidate():
    """The lecture's three edits (nti_edu.lecture_examples) on two held-out scenes each, judged by the grown
    evaluator: every edit shows its target (measured 2026-12-07: 6 of 6)."""
    from nti_edu.evaluator import load_evaluator
    from nti_edu.lecture_examples import EXAMPLES, known, run_example
    from nti_edu.models import load_model

    model = load_model(str(CANDIDATE))
    evaluator = load_evaluator(CANDIDATE.parent / "evaluator_animals_style")
    for example in EXAMPLES:
        assert known(model, example)
        out = run_example(model, example, n=2, evaluator=evaluator)
        assert out["edited"].shape == (2, 3, 64, 64) and out["success"].all(), (example.lecture, out["success"])
