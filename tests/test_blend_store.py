"""LocalBlend reads the maps the official Prompt-to-Prompt code's store reads (issue 29).

Read from google/prompt-to-prompt: ``AttentionControlEdit.forward`` first hands the conditional half of the
probabilities to ``AttentionStore.forward``, which appends that very tensor to its step store, and then
writes the edited target rows into it in place (``attn[1:] = ...`` on a reshaped view). So the store, summed
over steps, holds the maps after the injection: inside the cross-attention window a swapped word's map is
the source word's. ``LocalBlend`` then averages the stored maps over heads and layers of one resolution.
Below, that rule is written out on given maps and compared with what our controller stores and blends on.
"""
import pytest
import torch

from nti_edu.p2p import LocalBlend, WordSwap
from nti_edu.p2p.blend import region
from nti_edu.p2p.words import find_words

SOURCE, TARGET, STEPS, HEADS, SIDE = "a red circle", "a blue circle", 4, 2, 8
LAYERS = ("down_blocks.0.attn2", "up_blocks.1.attn2")


def official_store(outputs: dict) -> torch.Tensor:
    """The official rule: per layer, the sum over steps of the tensors the edit overwrote in place (the conditional
    rows, every head); LocalBlend: the heads of all layers of this resolution together, averaged. (2, P, K)."""
    per_layer = [torch.stack(steps).sum(0).view(2, HEADS, SIDE * SIDE, -1) for steps in outputs.values()]
    return torch.cat(per_layer, dim=1).mean(1)  # (2, P, K)


@pytest.fixture
def run(tiny_model):
    """Our WordSwap with a local blend run on given random maps: (controller, {layer: [cond rows per step]}, inputs)."""
    tok = tiny_model.tokenizer
    blend = LocalBlend("red", "blue", start=0.0)
    swap = WordSwap(tok, SOURCE, TARGET, STEPS, cross_replace_steps=0.5, local_blend=blend)
    swap.bind((4, SIDE, SIDE))
    gen = torch.Generator().manual_seed(0)
    outputs, inputs = {name: [] for name in LAYERS}, {name: [] for name in LAYERS}
    for step in range(STEPS):
        swap.begin_step(step)
        for name in LAYERS:
            probs = torch.randn(4 * HEADS, SIDE * SIDE, tok.model_max_length, generator=gen).softmax(-1)
            out = swap(probs.clone(), is_cross=True, name=name, heads=HEADS)  # (4 * heads, P, K)
            outputs[name].append(out[2 * HEADS:].clone())  # the conditional rows, as the UNet used them
            inputs[name].append(probs[2 * HEADS:])
    return swap, outputs, inputs


def test_the_store_holds_the_maps_after_the_injection(run, tiny_model):
    swap, outputs, inputs = run
    ours = swap.cross_attention(SIDE).view(2, SIDE * SIDE, -1)  # (2, P, K): mean over steps and layers
    assert torch.allclose(ours * STEPS, official_store(outputs), atol=1e-6)
    assert not torch.allclose(ours * STEPS, official_store(inputs), atol=1e-3)  # the old rule: before the injection
    red = find_words(tiny_model.tokenizer, SOURCE, "red")
    blue = find_words(tiny_model.tokenizer, TARGET, "blue")
    first = outputs[LAYERS[0]][0].view(2, HEADS, SIDE * SIDE, -1)  # step 0, inside the window [0, 0.5)
    assert torch.allclose(first[1][..., blue].sum(-1), first[0][..., red].sum(-1))  # target "blue" = source "red"


def test_the_blend_mask_is_the_official_maps_mask(run):
    swap, outputs, _ = run
    maps = official_store(outputs).view(2, SIDE, SIDE, -1)  # (2, s, s, K)
    expected = region(maps, swap.local_blend.word_alpha, (SIDE, SIDE), swap.local_blend.threshold, pool=True)
    assert torch.equal(swap.local_blend.mask(swap, (SIDE, SIDE)), expected.float())
