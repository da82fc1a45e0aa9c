"""nti_edu.report.splice (benchmarks/background_swap.py's spliced target embedding), on the tiny model."""
import torch

from nti_edu.p2p import word_positions
from nti_edu.report.splice import SplicedTarget

SOURCE, TARGET = "a red circle", "a blue circle"


def test_spliced_target_takes_each_part_from_the_right_prompt(tiny_model):
    source, target = tiny_model.encode_prompt(SOURCE), tiny_model.encode_prompt(TARGET)  # (1, L, D)
    end = word_positions(tiny_model.tokenizer, TARGET)[-1][-1] + 1  # the end token, after the last word's tokens
    assert end < tiny_model.tokenizer.model_max_length - 1  # so there is padding after it
    assert torch.equal(SplicedTarget(tiny_model, SOURCE, TARGET, ("words", "end", "padding"))
                       .encode_prompt(TARGET), target)
    words = SplicedTarget(tiny_model, SOURCE, TARGET, ("words",)).encode_prompt(TARGET)
    assert torch.equal(words[:, :end], target[:, :end]) and torch.equal(words[:, end:], source[:, end:])
    tail = SplicedTarget(tiny_model, SOURCE, TARGET, ("end", "padding")).encode_prompt(TARGET)
    assert torch.equal(tail[:, :end], source[:, :end]) and torch.equal(tail[:, end:], target[:, end:])
    assert not torch.equal(source[:, end:], target[:, end:])  # the end and padding tokens see the whole prompt
    spliced = SplicedTarget(tiny_model, SOURCE, TARGET, ("words",))
    assert torch.equal(spliced.encode_prompt(SOURCE), source) and spliced.unet is tiny_model.unet
