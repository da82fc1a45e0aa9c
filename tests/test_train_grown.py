"""Issue 37: warm-starting the shipped text encoder with a grown tokenizer appends rows and keeps the rest."""
import pytest
import torch

from nti_edu.train.warm_start import TOKEN_ROWS, grow_token_rows


def test_new_token_rows_are_appended_and_old_ones_kept():
    old = torch.randn(40, 8)  # (V, D)
    grown = grow_token_rows({TOKEN_ROWS: old, "other": torch.ones(3)}, 45, seed=0)
    assert grown[TOKEN_ROWS].shape == (45, 8) and torch.equal(grown[TOKEN_ROWS][:40], old)
    assert torch.equal(grown["other"], torch.ones(3))
    new = grown[TOKEN_ROWS][40:]  # (5, D)
    assert torch.cdist(new, new).add(torch.eye(5) * 1e9).min() > 0.1  # distinct from each other
    assert torch.equal(grow_token_rows({TOKEN_ROWS: old}, 40, seed=0)[TOKEN_ROWS], old)


def test_a_smaller_tokenizer_is_refused():
    with pytest.raises(ValueError, match="--new-kinds"):
        grow_token_rows({TOKEN_ROWS: torch.zeros(45, 4)}, 40, seed=0)
