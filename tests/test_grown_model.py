"""Issue 37's grown model (embedded@0.2.0): it loads offline, knows the new words, and edits the lecture's examples."""
import pytest
import torch

from nti_edu.models import load_model


def test_the_shipped_model_loads_and_encodes_the_new_words(no_network):
    model = load_model("embedded")
    prompts = ["an abstract painting of a yellow face on a green background",
               "a large brown dog at the top left on a blue background", ""]
    emb = model.encode_prompt(prompts)  # (3, 16, 128)
    assert emb.shape == (3, 16, 128) and torch.isfinite(emb).all()
    assert model.tokenizer.convert_tokens_to_ids(["dog", "cat", "abstract", "painting", "of"]) == [40, 41, 42, 43, 44]
    assert model.text_encoder.config.vocab_size == 45


@pytest.mark.full  # six null-text inversions (one batch) and edits at 50 steps: 1 to 4.6 min on a 2-core CPU
def test_the_lecture_examples_succeed_on_the_shipped_model():
    """The lecture's three edits (nti_edu.lecture_examples) on two held-out scenes each, judged as issue 37 asks:
    every edit shows its target by the shipped evaluator, dog -> cat keeps what is outside the animals at >= 25 dB,
    the painting keeps its drawing's layout (nti_edu.layout). Measured 2026-12-07: 6 of 6 shown, 34.2 and 34.2 dB
    outside the animals, layout 0.80 and 0.83 against the threshold 0.7."""
    from nti_edu.evaluator import load_evaluator
    from nti_edu.layout import LAYOUT_THRESHOLD, layout_similarity
    from nti_edu.lecture_examples import EXAMPLES, example_cases, run_examples
    from nti_edu.report.scenes import psnr_outside

    outs = run_examples(load_model("embedded"), EXAMPLES, n=2, evaluator=load_evaluator())
    for out in outs:
        assert out["edited"].shape == (2, 3, 64, 64) and out["success"].all(), (out["example"].lecture, out["success"])
    swap, painting = outs[1], outs[2]
    kept = psnr_outside(swap["edited"], swap["images"], example_cases(EXAMPLES[1], 2)["regions"])  # (2,) dB
    assert (kept >= 25).all(), kept
    layout = layout_similarity(painting["edited"].float(), painting["images"].float())  # (2,)
    assert (layout >= LAYOUT_THRESHOLD).all(), layout
