"""Editing inverted images (Mokady et al. 2023 with Prompt-to-Prompt) on the tiny components."""
import pytest
import torch

from nti_edu.alternatives import direct_inversion
from nti_edu.editing import edit, edit_latents
from nti_edu.metrics import psnr
from nti_edu.null_text import null_text_inversion
from nti_edu.p2p import AttentionControl, LocalBlend, Refine, Reweight, WordSwap
from nti_edu.reconstruction import reconstruct, reconstruct_latents
from nti_edu.sampling import sample

SOURCE, N = "a red circle", 4


@pytest.fixture(scope="module")
def image(tiny_model):
    s = tiny_model.image_size
    return torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(11))


@pytest.fixture(scope="module")
def nti(tiny_model, image):
    return null_text_inversion(tiny_model, image, SOURCE, num_steps=N, num_inner_steps=3, progress=False)


def controllers(tokenizer):
    return {"swap": WordSwap(tokenizer, SOURCE, "a blue circle", N, self_replace_steps=0.5),
            "swap+blend": WordSwap(tokenizer, SOURCE, "a blue circle", N, local_blend=LocalBlend("red", "blue", start=0)),
            "refine": Refine(tokenizer, SOURCE, "a big red circle", N, cross_replace_steps={"default_": 1.0, "red": 0.5}),
            "reweight": Reweight(tokenizer, SOURCE, N, {"red": 3.0})}


@pytest.fixture(scope="module")
def nti64(model64, image):
    return null_text_inversion(model64, image.double(), SOURCE, num_steps=N, num_inner_steps=3, progress=False)


def test_plain_prompt_change(model64, nti64):
    """In float64: the edit's batch of two branches and the reconstruction's batch of one round differently
    in float32 (7.5e-6 on the images on one CPU, against 1e-5 allowed before), so compare the algorithm only."""
    rec = reconstruct(model64, nti64)
    source, same = edit(model64, nti64, SOURCE, progress=False)
    assert (source - rec).abs().max() <= 1e-9 and (same - rec).abs().max() <= 1e-9
    source, edited = edit(model64, nti64, "a blue circle", progress=False)
    assert source.shape == edited.shape == (1, 3, model64.image_size, model64.image_size)
    assert (source - rec).abs().max() <= 1e-9 and (edited - source).abs().max() > 1e-2


@pytest.mark.parametrize("kind", ["swap", "swap+blend", "refine", "reweight"])
def test_controllers_leave_the_source_branch_alone(tiny_model, nti, kind):
    """Bit for bit the source branch of the do-nothing controller (the same explicit attention): a
    controller changes the target's rows only. That branch against the reconstruction, which runs
    diffusers' own attention, is the float64 test below (in float32 the two attentions' round-off,
    blown up by the random model's guided steps, reaches 1e-5 on some CPUs)."""
    before = dict(tiny_model.unet.attn_processors)
    controller = controllers(tiny_model.tokenizer)[kind]
    source, edited = edit(tiny_model, nti, controller.target, controller=controller, progress=False)
    untouched, _ = edit(tiny_model, nti, controller.target, controller=AttentionControl(), progress=False)
    assert torch.equal(source, untouched)
    assert (edited - source).abs().max() > 1e-3  # the target did change
    after = tiny_model.unet.attn_processors
    assert all(after[k] is v for k, v in before.items())  # the original processors are back


def test_controlled_source_branch_retraces_the_reconstruction(model64, nti64):
    """In float64, so that only the algorithm is compared: the source branch of a controlled edit is the
    null-text reconstruction (measured: 7.7e-14)."""
    controller = controllers(model64.tokenizer)["swap+blend"]
    x_0 = edit_latents(model64, nti64, controller.target, controller=controller)[-1]  # (2, C, h, w)
    assert (x_0[:1] - reconstruct_latents(model64, nti64)[-1]).abs().max() <= 1e-9


def test_word_swap_injects_the_source_maps_into_the_target_branch(model64, nti64):
    """Prompt-to-Prompt's word swap (Hertz et al. 2023, sec. 3.2), layer by layer in the UNet: inside the
    cross-attention window (the first int(0.6 (N + 1)) steps, the official code's fractions of N + 1) the target's
    conditional maps are the source's, carried to the target's tokens by the mapper (this tokenizer spells "red"
    in 3 tokens and "blue" in 4: each blue token gets a quarter of red's); after it, the target's own; the null
    rows and the source's never change."""
    seen = []

    class Recording(WordSwap):
        def __call__(self, probs, *, is_cross, name, heads):
            before = probs.view(4, heads, *probs.shape[1:]).clone()  # [null src, null tgt, cond src, cond tgt]
            after = super().__call__(probs, is_cross=is_cross, name=name, heads=heads)
            if is_cross:
                seen.append((self.step, before, after.view(4, heads, *probs.shape[1:]).clone()))
            return after

    swap = Recording(model64.tokenizer, SOURCE, "a blue circle", N, cross_replace_steps=0.6, self_replace_steps=0.0)
    edit_latents(model64, nti64, "a blue circle", controller=swap)
    assert sorted({step for step, _, _ in seen}) == list(range(N))
    for step, before, after in seen:
        assert torch.equal(after[:3], before[:3])
        mapped = torch.einsum("hpw,wn->hpn", before[2], swap.mapper.to(before[2]))  # source maps on target tokens
        expected = mapped if step < int(0.6 * (N + 1)) else before[3]  # inside the window (3 steps, not int(0.6 N) = 2)
        assert (after[3] - expected).abs().max() <= 1e-12, step
        assert not torch.equal(before[2], before[3])  # the two prompts' maps differ, so the check can tell


def test_local_blend_keeps_the_source_outside_the_mask(tiny_model, nti):
    # the random model's attention is nearly uniform (normalised maps from 0.85 to 1), hence the high threshold
    blend = LocalBlend("red", "blue", start=0.0, threshold=0.98)
    swap = WordSwap(tiny_model.tokenizer, SOURCE, "a blue circle", N, local_blend=blend)
    x_0 = edit_latents(tiny_model, nti, "a blue circle", controller=swap)[-1]  # (2, C, h, w)
    mask = blend.mask(swap, tuple(x_0.shape[-2:]))[1, 0]  # (h, w), the mask of the last step
    assert 0 < mask.mean() < 1
    outside = (x_0[1] - x_0[0])[:, mask == 0]
    assert torch.equal(outside, torch.zeros_like(outside))
    assert (x_0[1] - x_0[0])[:, mask == 1].abs().max() > 1e-3


def test_end_to_end_invert_tune_edit(tiny_model, image):
    result = null_text_inversion(tiny_model, image, SOURCE, num_steps=N, num_inner_steps=2, progress=False)
    swap = WordSwap(tiny_model.tokenizer, SOURCE, "a red square", N, local_blend=LocalBlend("circle", "square"))
    source, edited = edit(tiny_model, result, "a red square", controller=swap, progress=False)
    for img in (source, edited):
        assert img.shape == image.shape and 0 <= img.min() and img.max() <= 1
    # the source branch: bit for bit the do-nothing controller's (against the reconstruction: float64, above)
    assert torch.equal(source, edit(tiny_model, result, "a red square", controller=AttentionControl(),
                                    progress=False)[0])


def test_direct_inversion_edit_keeps_the_source_exact(model64, image):
    """The corrections go to the source branch only. In float64: in float32 the edit's batched UNet call
    differs from the inversion's by round-off, which the random model's guided steps blow up to 2e-4."""
    result = direct_inversion(model64, image, SOURCE, num_steps=N)
    swap = WordSwap(model64.tokenizer, SOURCE, "a blue circle", N)
    x_0 = edit_latents(model64, result, "a blue circle", controller=swap)[-1]  # (2, C, h, w)
    assert (x_0[0] - result.x_0[0]).abs().max() <= 1e-9
    assert (x_0[1] - x_0[0]).abs().max() > 1e-3


def test_target_guidance_weight(tiny_model, nti):
    """target_w steers the target branch only: equal to w it is the default, and the source never moves;
    at w_t = 1 the target branch is plain conditional DDIM sampling of the target prompt from x_T with
    no guidance, whatever the null embeddings."""
    source, default = edit(tiny_model, nti, "a blue circle", progress=False)
    _, same = edit(tiny_model, nti, "a blue circle", target_w=nti.w, progress=False)
    assert torch.equal(default, same)
    for w_t in (1.0, 2.5):
        src, lower = edit(tiny_model, nti, "a blue circle", target_w=w_t, progress=False)
        assert (src - source).abs().max() <= 1e-6 and (lower - default).abs().max() > 1e-3
    _, unguided = edit(tiny_model, nti, "a blue circle", target_w=1.0, progress=False)
    with torch.no_grad():
        x_0 = sample(tiny_model, nti.x_T[:1], tiny_model.encode_prompt("a blue circle"), num_steps=N, w=1.0)
    assert (unguided - tiny_model.latent_to_image(x_0)).abs().max() <= 1e-4


def test_errors(tiny_model, nti):
    with pytest.raises(ValueError, match="guidance weight w must be a finite number >= 0"):
        edit(tiny_model, nti, "a blue circle", target_w=-1.0, progress=False)
    with pytest.raises(ValueError, match="index of one of the result's 1 images"):
        edit(tiny_model, nti, "a blue circle", image=1, progress=False)
    swap = WordSwap(tiny_model.tokenizer, SOURCE, "a blue circle", N + 1)
    with pytest.raises(ValueError, match="made for 'a red circle' -> 'a blue circle' with 5 steps"):
        edit(tiny_model, nti, "a blue circle", controller=swap, progress=False)
    swap = WordSwap(tiny_model.tokenizer, SOURCE, "a blue circle", N)
    with pytest.raises(ValueError, match="not for 'a red circle' -> 'a green circle'"):
        edit(tiny_model, nti, "a green circle", controller=swap, progress=False)
