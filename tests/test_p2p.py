"""Prompt-to-Prompt pieces alone: word positions, token alignment, controllers, processor, local blend."""
import pytest
import torch

from nti_edu.p2p import (AttentionControl, AttentionStore, LocalBlend, Refine, Reweight, WordSwap, attention_control,
                         find_words, refine_mapper, swap_mapper, word_positions)
from nti_edu.p2p.controllers import cross_replace_alpha
from nti_edu.p2p.words import common_words
from nti_edu.world.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def clip(tiny_model):
    return tiny_model.tokenizer  # byte-level BPE: several tokens per word


@pytest.fixture(scope="module")
def words():
    return build_tokenizer()  # the embedded model's word-level tokenizer: one token per word


def test_word_positions_for_both_kinds_of_tokenizer(clip, words):
    assert word_positions(clip, "a red circle") == [[1], [2, 3, 4], [5, 6, 7, 8, 9, 10]]
    assert word_positions(words, "a face with red sunglasses") == [[1], [2], [3], [4], [5]]
    assert find_words(clip, "a red circle and a red square", "red") == [2, 3, 4, 15, 16, 17]  # "and" is 3 tokens
    with pytest.raises(ValueError, match="'blue' is not in the prompt"):
        find_words(words, "a red circle", "blue")


def test_word_swap_needs_equal_word_counts(clip, words):
    for tokenizer in (clip, words):
        with pytest.raises(ValueError, match="same number of words, got 3 .* and 4 .*use Refine"):
            swap_mapper(tokenizer, "a red circle", "a big red circle")
        with pytest.raises(ValueError, match="same number of words"):
            WordSwap(tokenizer, "a red circle", "a big red circle", 10)


def test_swap_mapper(clip, words):
    mapper, alpha = swap_mapper(words, "a red circle", "a blue circle")
    assert torch.equal(mapper, torch.eye(16)) and torch.equal(alpha, torch.ones(16))  # one token per word
    mapper, alpha = swap_mapper(clip, "a red circle", "a blue circle")  # "red" 3 tokens, "blue" 4 tokens
    red, blue = [2, 3, 4], [2, 3, 4, 5]
    assert torch.allclose(mapper[red][:, blue], torch.full((3, 4), 0.25))
    assert mapper[6:12, 7:13].equal(torch.eye(6))  # "circle" (6 tokens) and the end token, shifted by one
    assert mapper.sum(0)[13:].eq(1).all() and torch.equal(alpha, torch.ones(77))  # padding keeps a source


def test_refine_mapper_aligns_shared_words(clip, words):
    assert common_words("a red circle".split(), "a big red circle".split()) == [(0, 0), (1, 2), (2, 3)]
    mapper, alpha = refine_mapper(words, "a red circle", "a big red circle")
    assert alpha[:6].tolist() == [1, 1, 0, 1, 1, 1]  # start, a, big (new), red, circle, end
    assert [int(mapper[:, j].argmax()) for j in (0, 1, 3, 4, 5)] == [0, 1, 2, 3, 4]
    mapper, alpha = refine_mapper(clip, "a red circle", "a big red circle")
    big = word_positions(clip, "a big red circle")[1]
    assert alpha[big].eq(0).all() and mapper[:, big].eq(0).all() and alpha.sum() == 77 - len(big)


def test_cross_replace_windows_per_word(words):
    alpha = cross_replace_alpha(words, "a blue circle", 10, {"default_": 0.8, "blue": (0.2, 0.5)})
    assert alpha.shape == (11, 16)
    assert alpha[:, 1].tolist() == [1.0] * 8 + [0.0] * 3  # int(0.8 * 11) = 8 steps, as the official code
    assert alpha[:, 2].tolist() == [0.0] * 2 + [1.0] * 3 + [0.0] * 6  # "blue": steps 2, 3, 4
    with pytest.raises(ValueError, match="cross_replace_steps must be a fraction"):
        cross_replace_alpha(words, "a blue circle", 10, 1.5)


def fake_probs(heads, P, K, seed=0):
    p = torch.rand(4 * heads, P, K, generator=torch.Generator().manual_seed(seed))
    return p / p.sum(-1, keepdim=True)


def test_edit_changes_only_the_targets_conditional_branch(words):
    swap = WordSwap(words, "a red circle", "a blue circle", 10, cross_replace_steps=0.5, self_replace_steps=0.3)
    swap.bind((4, 16, 16))
    heads = 2
    for step, is_cross, P, K, injected in [(0, True, 64, 16, True), (6, True, 64, 16, False),
                                           (2, False, 64, 64, True), (3, False, 64, 64, False),
                                           (0, False, 256, 256, False)]:  # self: only layers of <= 1/4 the pixels
        swap.begin_step(step)
        probs = fake_probs(heads, P, K, seed=step)
        out = swap(probs.clone(), is_cross=is_cross, name="layer", heads=heads).view(4, heads, P, K)
        before = probs.view(4, heads, P, K)
        assert torch.equal(out[:3], before[:3])  # both null branches and the source branch untouched
        mapped = torch.einsum("hpw,wn->hpn", before[2], swap.mapper) if is_cross else before[2]
        expected = mapped if injected else before[3]
        assert torch.allclose(out[3], expected), (step, is_cross, P)


def test_reweight_scales_the_chosen_word(words):
    reweight = Reweight(words, "a red circle", 10, {"red": 2.5})
    reweight.bind((4, 16, 16))
    probs = fake_probs(1, 8, 16)
    out = reweight(probs, is_cross=True, name="layer", heads=1)
    scale = torch.ones(16)
    scale[2] = 2.5
    assert torch.allclose(out[3], probs[2] * scale)
    with pytest.raises(ValueError, match="needs weights"):
        Reweight(words, "a red circle", 10, {})


def test_refine_keeps_new_words_own_attention(words):
    refine = Refine(words, "a red circle", "a big red circle", 10)
    refine.bind((4, 16, 16))
    probs = fake_probs(1, 8, 16)
    out = refine(probs, is_cross=True, name="layer", heads=1)
    assert torch.equal(out[3, :, 2], probs[3, :, 2])  # "big": the target's own
    assert torch.allclose(out[3, :, 3], probs[2, :, 2]) and torch.allclose(out[3, :, 1], probs[2, :, 1])


class Recorder(AttentionControl):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __call__(self, probs, *, is_cross, name, heads):
        self.seen.append((name, is_cross, tuple(probs.shape), heads))
        assert torch.allclose(probs.sum(-1), torch.ones(()), atol=1e-5)  # rows of probabilities
        return probs


def test_processor_equals_diffusers_attention_and_is_removed(tiny_model):
    """With a controller that changes nothing, the explicit attention gives diffusers' own output."""
    unet, g = tiny_model.unet, torch.Generator().manual_seed(0)
    x = torch.randn(4, *tiny_model.latent_shape, generator=g)
    emb = torch.randn(4, 77, unet.config.cross_attention_dim, generator=g)
    t = torch.full((4,), 500)
    with torch.no_grad():
        reference = unet(x, t, encoder_hidden_states=emb).sample
        recorder = Recorder()
        with attention_control(unet, recorder, tiny_model.latent_shape):
            controlled = unet(x, t, encoder_hidden_states=emb).sample
        after = unet(x, t, encoder_hidden_states=emb).sample
    assert (controlled - reference).abs().max() <= 1e-5 and torch.equal(after, reference)
    names = {name for name, *_ in recorder.seen}
    assert len(recorder.seen) == len(names) == len(unet.attn_processors)
    assert {is_cross for _, is_cross, *_ in recorder.seen} == {True, False}
    assert all(shape[0] == 4 * heads for _, _, shape, heads in recorder.seen)


def test_unread_layers_run_fused_with_the_same_result(sd15_standin_dir):
    """A word swap on the SD-1.5 stand-in at 512x512: its 64x64 self-attention layers (4096 x 4096 probabilities per
    head), which the controller never reads, run fused; the UNet's output is the all-explicit one's within float32
    round-off, and the controller still sees every cross-attention layer and the coarse self-attention ones."""
    from nti_edu.models import load_model

    model = load_model(str(sd15_standin_dir))
    source, target = "a cat sitting next to a mirror", "a tiger sitting next to a mirror"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, *model.latent_shape, generator=g)  # (4, 4, 64, 64): [null src, null tgt, cond src, cond tgt]
    emb = torch.cat([model.null_embedding(), model.null_embedding(), model.encode_prompt([source, target])])

    class Seen(WordSwap):
        def __call__(self, probs, *, is_cross, name, heads):
            self.seen.append((is_cross, probs.shape[1]))
            return super().__call__(probs, is_cross=is_cross, name=name, heads=heads)

    class Explicit(Seen):
        def reads(self, *, is_cross, pixels):
            return True

    outputs = {}
    for kind in (Seen, Explicit):
        swap = kind(model.tokenizer, source, target, 10)
        swap.seen = []
        with attention_control(model.unet, swap, model.latent_shape), torch.no_grad():
            swap.begin_step(0)
            outputs[kind] = model.unet(x, torch.full((4,), 981), encoder_hidden_states=emb).sample
        assert sum(is_cross for is_cross, _ in swap.seen) == 16  # every cross-attention layer
        outputs[kind, "self"] = sorted({p for is_cross, p in swap.seen if not is_cross})
    assert outputs[Seen, "self"] == [64, 256, 1024] and outputs[Explicit, "self"] == [64, 256, 1024, 4096]
    scale = outputs[Explicit].abs().max()
    assert (outputs[Seen] - outputs[Explicit]).abs().max() <= 1e-4 * scale


def test_processors_are_restored_after_an_error(tiny_model):
    class Broken(AttentionControl):
        def __call__(self, probs, **kwargs):
            raise RuntimeError("boom")

    before = tiny_model.unet.attn_processors
    with pytest.raises(RuntimeError, match="boom"):
        with attention_control(tiny_model.unet, Broken(), tiny_model.latent_shape), torch.no_grad():
            tiny_model.predict_eps(torch.zeros(1, *tiny_model.latent_shape), 10, tiny_model.null_embedding())
    after = tiny_model.unet.attn_processors
    assert all(after[k] is v for k, v in before.items())


class FakeStore(AttentionStore):
    """A store holding given cross-attention maps (2, side, side, L)."""

    def __init__(self, maps):
        super().__init__()
        side = maps.shape[1]
        self.sums, self.counts = {"layer": maps.reshape(2, side * side, -1)}, {"layer": 1}


def test_local_blend_mask_follows_the_words(words):
    blend = LocalBlend("red", "blue", threshold=0.3, start=0.5)
    blend.bind_words(words, "a red circle", "a blue circle", 10)
    maps = torch.full((2, 4, 4, 16), 0.01)
    maps[0, 0, 0, 2] = 1.0  # "red" in the source: top-left pixel
    maps[1, 3, 3, 2] = 1.0  # "blue" in the target: bottom-right pixel
    mask = blend.mask(FakeStore(maps), (8, 8))  # (2, 1, 8, 8); 4 -> 8 pixels, after a 3 x 3 max-pool
    assert mask[0, 0, :4, :4].eq(1).all() and mask[0, 0].sum() == 16
    assert mask[1, 0, :4, :4].eq(1).all() and mask[1, 0, 4:, 4:].eq(1).all() and mask[1, 0].sum() == 32
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(blend(x, FakeStore(maps), step=4), x)  # before start = int(0.5 * 10)
    blended = blend(x, FakeStore(maps), step=5)
    assert torch.equal(blended[0], x[0]) and torch.equal(blended[1], x[0] + mask[1] * (x[1] - x[0]))


class SidesStore(AttentionStore):
    """A store holding one map of each given side."""

    def __init__(self, sides):
        super().__init__()
        self.sums = {f"layer{s}": torch.zeros(2, s * s, 16) for s in sides}
        self.counts = {k: 1 for k in self.sums}


@pytest.mark.parametrize("sides,latent_side,expected", [
    ((8, 16, 32, 64), 64, 16),  # SD 1.x: a quarter of the latent's side, the official code's choice
    ((4, 8), 16, 8),  # the embedded model: 4 x 4 maps would max-pool into a mask of ones
    ((4,), 16, 4),  # nothing finer stored: the only maps there are
    ((4, 8, 16), 40, 8),  # 10 wanted: the nearer of 8 and 16
    ((4, 16), 32, 16),  # 8 wanted, not stored: 4 is too coarse
])
def test_local_blend_default_side(sides, latent_side, expected):
    assert LocalBlend("red", "blue").side(SidesStore(sides), latent_side) == expected
    assert LocalBlend("red", "blue", resolution=4).side(SidesStore(sides), latent_side) == 4


def test_local_blend_on_8x8_maps_leaves_the_far_side_out(words):
    """On 8 x 8 maps the 3 x 3 max-pool grows a one-pixel word to 3 x 3, not to the whole latent."""
    blend = LocalBlend("red", "blue", threshold=0.3)
    blend.bind_words(words, "a red circle", "a blue circle", 10)
    maps = torch.full((2, 8, 8, 16), 0.01)
    maps[:, 0, 0, 2] = 1.0  # both words at the top-left pixel
    mask = blend.mask(FakeStore(maps), (16, 16))  # (2, 1, 16, 16)
    assert mask[1, 0, :4, :4].eq(1).all() and mask[1, 0].sum() == 16 and mask[1, 0, 8:, 8:].eq(0).all()


def test_local_blend_subtracts_the_other_words_region(words):
    """subtract_words (the official substruct_words): "background" minus where "circle" attends, in either prompt,
    not max-pooled."""
    blend = LocalBlend("background", "background", threshold=0.0, subtract_words=("circle", "circle"),
                       subtract_threshold=0.5)
    blend.bind_words(words, "a red circle on a white background", "a red circle on a black background", 10)
    maps = torch.full((2, 8, 8, 16), 0.01)
    maps[:, :, :, 7] = torch.linspace(0.1, 1.0, 64).reshape(8, 8)  # "background" everywhere
    maps[0, 0, 7, 3] = 1.0  # "circle" in the source: top-right pixel
    maps[1, 7, 7, 3] = 1.0  # "circle" in the target: bottom-right pixel
    mask = blend.mask(FakeStore(maps), (8, 8))  # (2, 1, 8, 8)
    assert mask[1, 0, 0, 7] == 0 and mask[1, 0, 7, 7] == 0  # both objects taken out of the target's row
    assert mask[0, 0, 0, 7] == 0 and mask[0, 0, 7, 7] == 1  # the source's row: its own object only
    assert mask[1, 0].sum() == 64 - 2  # the rest: 0.1 / 1.0 > 0 at the background map's minimum too
    plain = LocalBlend("background", "background", threshold=0.0)
    plain.bind_words(words, "a red circle on a white background", "a red circle on a black background", 10)
    assert plain.mask(FakeStore(maps), (8, 8))[1, 0].sum() == 64


@pytest.mark.parametrize("scale,expected", [("max", 64), ("range", 9)])
def test_local_blend_scales_maps_by_their_maximum_as_the_official_code(words, scale, expected):
    """A word map with a floor of 0.4 and a peak of 1 at one pixel, threshold 0.3: divided by the maximum (the
    official get_mask), the floor passes everywhere; scaled by the range (ours), only the max-pooled peak does."""
    blend = LocalBlend("red", "red", threshold=0.3, scale=scale)
    blend.bind_words(words, "a red circle", "a red circle", 10)
    maps = torch.full((2, 8, 8, 16), 0.01)
    maps[:, :, :, 2] = 0.4
    maps[:, 4, 4, 2] = 1.0
    assert blend.mask(FakeStore(maps), (8, 8))[1, 0].sum() == expected


@pytest.mark.parametrize("kwargs,message", [
    ({"subtract_words": "circle"}, "subtract_words is a pair"),
    ({"subtract_words": ("circle",)}, "subtract_words is a pair"),
    ({"subtract_threshold": 1.0}, "subtract_threshold must be in"),
    ({"scale": "min-max"}, "scale must be one of"),
])
def test_local_blend_rejects_bad_subtraction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalBlend("background", "background", **kwargs)


def test_prompt_edit_chooses_swap_or_refinement_once(words):
    """The library's one rule (p2p.choose): the same number of words is a swap, else a refinement; ``kind`` forces."""
    from nti_edu.p2p import prompt_edit

    assert type(prompt_edit(words, "a red circle", "a blue circle", 4)) is WordSwap
    assert type(prompt_edit(words, "a red circle", "a red circle on a blue background", 4)) is Refine
    assert type(prompt_edit(words, "a red circle", "a blue circle", 4, kind="refine")) is Refine
    with pytest.raises(ValueError, match="kind must be one of"):
        prompt_edit(words, "a red circle", "a blue circle", 4, kind="reweight")
