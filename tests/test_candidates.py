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
