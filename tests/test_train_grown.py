"""Issue 37: warm-starting the shipped text encoder with a grown tokenizer appends rows and keeps the rest."""
from pathlib import Path

import pytest
import torch

from nti_edu.train.warm_start import TOKEN_ROWS, grow_token_rows

SHIPPED = Path(__file__).resolve().parents[1] / "nti_edu" / "assets" / "embedded"


def test_new_token_rows_are_appended_and_old_ones_kept():
    old = torch.randn(40, 8)  # (V, D)
    grown = grow_token_rows({TOKEN_ROWS: old, "other": torch.ones(3)}, 45, seed=0)
    assert grown[TOKEN_ROWS].shape == (45, 8) and torch.equal(grown[TOKEN_ROWS][:40], old)
    assert torch.equal(grown["other"], torch.ones(3))
    new = grown[TOKEN_ROWS][40:]  # (5, D)
    assert torch.cdist(new, new).add(torch.eye(5) * 1e9).min() > 0.1  # distinct from each other
    assert torch.equal(grow_token_rows({TOKEN_ROWS: old}, 40, seed=0)[TOKEN_ROWS], old)


def test_a_smaller_tokenizer_is_refused():
    with pytest.raises(ValueError, match="a grown model.s tokenizer is needed"):
        grow_token_rows({TOKEN_ROWS: torch.zeros(45, 4)}, 40, seed=0)


def test_a_warm_start_loads_the_shipped_text_encoder_itself():
    """The files keep the text encoder under "text_model." (models/portable.py), which transformers 5's module
    does not use: a warm start that loaded them with strict=False once started from a random text encoder."""
    from nti_edu.models import load_model
    from nti_edu.train.config import TrainConfig
    from nti_edu.train.warm_start import _load_exported
    from nti_edu.world import build_tokenizer

    with pytest.raises(ValueError, match="a grown model's tokenizer is needed"):  # the shipped one has 45 words
        _load_exported(SHIPPED, TrainConfig(), build_tokenizer(grown=False))
    _, text_encoder, _ = _load_exported(SHIPPED, TrainConfig(), build_tokenizer(grown=True))
    shipped = load_model("embedded").text_encoder
    ids = torch.tensor([[2, 4, 20, 28, 13, 6, 34, 12, 24, 4, 9, 7, 3, 0, 0, 0]])  # (1, 16): a large red circle ...
    with torch.no_grad():
        assert torch.equal(text_encoder(ids).last_hidden_state, shipped(ids).last_hidden_state.float())


def test_a_warm_start_from_the_shipped_model_keeps_its_grown_words(tmp_path):
    """Since embedded@0.2.0 the shipped model knows dog, cat and painting: going on from it without --new-kinds keeps
    the grown tokenizer (a 40-word one would be refused), and a model of today's words stays as it is."""
    from nti_edu.train.warm_start import knows_grown_words

    assert knows_grown_words(SHIPPED) and not knows_grown_words(None)
    folder = tmp_path / "text_encoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"vocab_size": 40}')
    assert not knows_grown_words(tmp_path)
