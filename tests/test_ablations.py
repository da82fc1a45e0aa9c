"""The paper's ablations (Mokady et al. 2023, sec. 4) and SDEdit: each variant's defining property, on the tiny
seeded components (float64 where two routes must agree)."""
import pytest
import torch

from nti_edu import ablations as A
from nti_edu.editing import edit_latents
from nti_edu.inversion import invert
from nti_edu.null_text import null_text_inversion, pivotal_loss, pivots
from nti_edu.reconstruction import reconstruct_latents
from nti_edu.sampling import sample
from nti_edu.storage import load_result, save_result

PROMPTS = ["a red circle", "a blue square"]


def images(model, n, seed=0):
    s = model.image_size
    x = torch.rand(n, 3, s, s, generator=torch.Generator().manual_seed(seed))
    return x.to(model.work_dtype)


def test_random_pivots_are_the_seeded_noise_on_z0(model64):
    """Every pivot is z_0 noised with the one seeded eps per image (Ho et al. eq. 4); the last is z_0 itself."""
    x = images(model64, 2)
    result = A.random_pivots(model64, x, PROMPTS, num_steps=4, seed=3)
    x_0 = model64.image_to_latent(x)
    eps = torch.randn(x_0.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for step, latent in zip(model64.schedule.steps(4), result.latents):
        a = step.alpha_bar_t.double()
        assert torch.equal(latent, a.sqrt() * x_0 + (1 - a).sqrt() * eps)
    assert torch.equal(result.latents[-1], x_0)
    assert not torch.equal(result.latents[0], A.random_pivots(model64, x, PROMPTS, num_steps=4, seed=4).latents[0])


def test_random_pivot_inversion_is_algorithm_1_around_them(model64):
    """Null-text inversion whose pivots are the random ones: starts at z*_T, tunes the nulls (not C)."""
    x = images(model64, 1, seed=1)
    result = A.random_pivot_inversion(model64, x, PROMPTS[0], num_steps=3, num_inner_steps=2, seed=7, progress=False)
    assert result.method == "random-pivot" and result.settings["seed"] == 7
    assert torch.equal(result.x_T, A.random_pivots(model64, x, PROMPTS[0], num_steps=3, seed=7).x_T)
    assert result.emb_conds is None and torch.equal(result.emb_cond, model64.encode_prompt(PROMPTS[:1]))
    assert not torch.equal(result.emb_null[0], model64.null_embedding(1))


def test_cond_pivotal_loss_and_pivotal_loss_agree_before_tuning(model64):
    """Eq. 3 seen from either embedding: with C = psi(P) and the null "", both losses are the same guided step."""
    x = images(model64, 2, seed=2)
    pivotal = pivots(model64, x, PROMPTS, num_steps=3)
    step, x_t = model64.schedule.steps(3)[0], pivotal.latents[0]
    emb_null, emb_cond = model64.null_embedding(2), pivotal.emb_cond
    eps_null, eps_cond = model64.predict_eps(x_t, step.t, emb_null), model64.predict_eps(x_t, step.t, emb_cond)
    by_null = pivotal_loss(model64, step, x_t, eps_cond, emb_null, pivotal.latents[1], 7.5)
    by_cond = A.cond_pivotal_loss(model64, step, x_t, eps_null, emb_cond, pivotal.latents[1], 7.5)
    assert torch.allclose(by_null.double(), by_cond.double(), rtol=1e-12, atol=0)


def test_pivotal_textual_inversion_tunes_c_and_leaves_the_null(model64):
    """Textual inversion with a pivot: the null stays "", each step's C_t moves off psi(P), and reconstruct and
    storage honour the C_t (a saved and loaded result reconstructs the same)."""
    x = images(model64, 2, seed=3)
    result = A.pivotal_textual_inversion(model64, x, PROMPTS, num_steps=3, num_inner_steps=2, progress=False)
    null = model64.null_embedding(2)
    assert all(torch.equal(e, null) for e in result.emb_null)
    assert torch.equal(result.emb_cond, model64.encode_prompt(PROMPTS)) and len(result.emb_conds) == 3
    assert all(not torch.equal(c, result.emb_cond) for c in result.emb_conds)
    plain = reconstruct_latents(model64, invert(model64, x, PROMPTS, num_steps=3), w=7.5)
    assert not torch.equal(reconstruct_latents(model64, result)[-1], plain[-1])
    assert result.losses[-1][-1] < result.losses[-1][0]


def test_untuned_textual_inversions_are_ddim_inversion_sampled_at_w(model64):
    """No iterations: both textual inversions keep C = psi(P) and reconstruct exactly as the pivots do."""
    x = images(model64, 1, seed=4)
    nti = null_text_inversion(model64, x, PROMPTS[0], num_steps=3, num_inner_steps=0, progress=False)
    for result in (A.pivotal_textual_inversion(model64, x, PROMPTS[0], num_steps=3, num_inner_steps=0,
                                               progress=False),
                   A.textual_inversion(model64, x, PROMPTS[0], num_steps=3, num_inner_steps=0, progress=False)):
        assert all(torch.equal(c, nti.emb_cond) for c in result.emb_conds)
        assert torch.equal(reconstruct_latents(model64, result)[-1], reconstruct_latents(model64, nti)[-1])


def test_textual_inversion_without_pivot_tunes_one_c(model64):
    """Eq. 4: one C per image for every step, the null untouched, x_T the DDIM inversion with that C."""
    x = images(model64, 2, seed=5)
    result = A.textual_inversion(model64, x, PROMPTS, num_steps=3, num_inner_steps=2, seed=1, progress=False)
    assert all(c is result.emb_conds[0] for c in result.emb_conds)
    assert not torch.equal(result.emb_conds[0], result.emb_cond)
    assert all(torch.equal(e, model64.null_embedding(2)) for e in result.emb_null)
    assert [len(h) for h in result.losses] == [2, 2, 2]


def test_editing_a_tuned_c_to_its_own_prompt_retraces_the_source(model64, tmp_path):
    """The edit rule C_t + (E(target) - E(source)): with target = source the two branches are one trajectory."""
    x = images(model64, 1, seed=6)
    result = A.pivotal_textual_inversion(model64, x, PROMPTS[0], num_steps=3, num_inner_steps=1, progress=False)
    source, target = edit_latents(model64, result, PROMPTS[0])[-1]
    assert torch.allclose(source, target, rtol=0, atol=1e-10)  # a batch of two branches: float64 round-off only
    assert torch.allclose(source, reconstruct_latents(model64, result)[-1][0], rtol=0, atol=1e-10)
    loaded = load_result(save_result(result, tmp_path / "ti", model64), model64)
    assert all(torch.equal(a, b) for a, b in zip(loaded.emb_conds, result.emb_conds))


def test_sdedit_at_strength_0_is_the_vae_round_trip(tiny_model):
    x = images(tiny_model, 2, seed=7)
    out = A.sdedit(tiny_model, x, PROMPTS, strength=0.0, num_steps=4)
    assert torch.equal(out, tiny_model.latent_to_image(tiny_model.image_to_latent(x)))


def test_sdedit_at_strength_1_ignores_the_image(model64):
    """Strength 1: plain sampling from the seeded noise with the target prompt, whatever the image."""
    a = A.sdedit(model64, images(model64, 1, seed=8), PROMPTS[0], strength=1.0, num_steps=3, w=3.0, seed=2)
    b = A.sdedit(model64, images(model64, 1, seed=9), PROMPTS[0], strength=1.0, num_steps=3, w=3.0, seed=2)
    x_T = torch.randn((1, *model64.latent_shape), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = model64.latent_to_image(sample(model64, x_T, model64.encode_prompt(PROMPTS[:1]), num_steps=3, w=3.0))
    assert torch.equal(a, b) and torch.equal(a, expected)


def test_sdedit_in_between_denoises_the_last_steps_from_the_noised_image(model64):
    """Strength 2/4 of 4 steps: z_0 noised to step 2's level, then steps 2 and 3 only (no UNet call before)."""
    x = images(model64, 1, seed=10)
    calls = []
    unet_forward = model64.unet.forward
    model64.unet.forward = lambda *args, **kw: calls.append(int(args[1][0])) or unet_forward(*args, **kw)
    try:
        A.sdedit(model64, x, PROMPTS[1], strength=0.5, num_steps=4, w=1.0)
    finally:
        del model64.unet.forward
    assert calls == [step.t for step in model64.schedule.steps(4)[2:]]


@pytest.mark.parametrize("strength", [-0.1, 1.5, True, "half"])
def test_sdedit_refuses_a_bad_strength(tiny_model, strength):
    with pytest.raises(ValueError, match="strength"):
        A.sdedit(tiny_model, images(tiny_model, 1), PROMPTS[0], strength=strength, num_steps=2)


def test_bad_settings_raise_as_null_text_does(tiny_model):
    with pytest.raises(ValueError, match="num_inner_steps"):
        A.pivotal_textual_inversion(tiny_model, images(tiny_model, 1), PROMPTS[0], num_steps=2, num_inner_steps=-1)
    with pytest.raises(ValueError, match="num_steps"):
        A.textual_inversion(tiny_model, images(tiny_model, 1), PROMPTS[0], num_steps=0)
    with pytest.raises(ValueError, match="num_steps"):
        A.random_pivots(tiny_model, images(tiny_model, 1), PROMPTS[0], num_steps=10_000)
