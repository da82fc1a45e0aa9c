"""The lecture's three edits (nti_edu.lecture_examples): their scenes, who knows their words, one batch for all."""
import pytest
import torch

from nti_edu.lecture_examples import EXAMPLES, example_cases, known, run_example, run_examples
from nti_edu.models import load_model


def test_each_example_draws_held_out_scenes_of_its_own_kind():
    seen = set()
    for example in EXAMPLES:
        cases = example_cases(example, 3)
        assert len(cases["edits"]) == 3 and cases["images"].shape == (3, 3, 64, 64)
        assert all(e.kind == example.kind for e in cases["edits"])
        assert torch.equal(cases["images"], example_cases(example, 3)["images"])  # deterministic
        prompts = {e.source_prompt for e in cases["edits"]}
        assert not prompts & seen  # each example its own block of seeds
        seen |= prompts
    assert "dog" in example_cases(EXAMPLES[1])["edits"][0].source_prompt
    assert "abstract painting" in example_cases(EXAMPLES[2])["edits"][0].target_prompt
    with pytest.raises(ValueError, match="n must be at least 1"):
        example_cases(EXAMPLES[0], 0)


def test_the_shipped_model_knows_every_example_and_an_older_one_is_told_apart():
    """embedded@0.2.0 knows dog, cat and painting; a model without them (the one shipped before issue 37) has its
    ValueError for an unknown word read as "skip this example"."""
    assert all(known(load_model("embedded"), e) for e in EXAMPLES)

    class Older:
        def encode_prompt(self, prompts):
            if any(word in p for p in prompts for word in ("dog", "cat", "painting")):
                raise ValueError("unknown word")

    assert [known(Older(), e) for e in EXAMPLES] == [True, False, False]


def test_one_batch_gives_each_example_its_rows(tiny_model):
    """Two examples inverted together: each gets its own scenes, reconstructions and edits, at the model's side."""
    outs = run_examples(tiny_model, EXAMPLES[:2], n=2, steps=2, inner_steps=1)
    assert [o["example"] for o in outs] == list(EXAMPLES[:2])
    for out, example in zip(outs, EXAMPLES[:2]):
        assert out["prompts"] == [e.source_prompt for e in example_cases(example, 2)["edits"]]
        for key in ("images", "drawn_targets", "reconstructions", "edited"):
            assert out[key].shape == (2, 3, 32, 32) and torch.isfinite(out[key]).all(), key
        assert out["success"] is None  # no evaluator given
    alone = run_example(tiny_model, EXAMPLES[1], n=2, steps=2, inner_steps=1)
    assert alone["prompts"] == outs[1]["prompts"] and torch.equal(alone["images"], outs[1]["images"])
    with pytest.raises(ValueError, match="at least one example"):
        run_examples(tiny_model, [])
