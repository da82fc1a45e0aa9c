"""Negative-prompt inversion (Miyake et al. 2023) and direct inversion (Ju et al. 2024) on tiny components."""
import pytest
import torch

from nti_edu.alternatives import direct_inversion, negative_prompt_inversion
from nti_edu.inversion import invert, resample
from nti_edu.reconstruction import reconstruct, reconstruct_latents

PROMPTS = ["a red circle", "a blue square"]


@pytest.fixture(scope="module")
def two_images(tiny_model):
    s = tiny_model.image_size
    return torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(5))


def test_direct_inversion_reconstructs_the_whole_trajectory(tiny_model, two_images):
    result = direct_inversion(tiny_model, two_images, PROMPTS, num_steps=6, w=7.5)
    assert result.method == "direct" and result.seconds > 0 and len(result.corrections) == 6
    assert all(c.shape == result.x_0.shape for c in result.corrections)
    back = reconstruct_latents(tiny_model, result)  # noisiest first
    for level, x in enumerate(back):
        assert (x - result.latents[level]).abs().max() <= 1e-5, level
    # without the corrections the guided sampler drifts far from the pivots
    drifted = resample(tiny_model, result)[-1]
    assert (drifted - result.x_0).abs().max() > 100 * (back[-1] - result.x_0).abs().max()


def test_direct_inversion_image_matches_the_vae_round_trip(tiny_model, two_images):
    result = direct_inversion(tiny_model, two_images, PROMPTS, num_steps=4)
    vae_only = tiny_model.latent_to_image(tiny_model.image_to_latent(two_images))
    assert (reconstruct(tiny_model, result) - vae_only).abs().max() <= 1e-5


@pytest.mark.parametrize("w", [7.5, 3.0])
def test_negative_prompt_inversion_is_the_w1_reconstruction(model64, two_images, w):
    """eps_null := eps_cond makes guidance w-independent: sampling at any w is sampling at w = 1.

    In float64: the guided sampler's batch of 2B and the w = 1 sampler's batch of B round differently in
    float32 (6.6e-6 on one CPU against 1e-5 allowed before), so only the algorithm is compared."""
    images = two_images.double()  # (2, 3, H, W)
    npi = negative_prompt_inversion(model64, images, PROMPTS, num_steps=5, w=w)
    assert npi.method == "negative-prompt" and npi.w == w and npi.seconds > 0
    assert all(e is npi.emb_cond for e in npi.emb_null)
    plain = invert(model64, images, PROMPTS, num_steps=5, w=1.0)
    assert torch.equal(npi.x_T, plain.x_T)
    w1 = resample(model64, plain, w=1.0)
    for a, b in zip(reconstruct_latents(model64, npi), w1):
        assert (a - b).abs().max() <= 1e-9
    at_w = resample(model64, plain, w=w)[-1]  # the plain "" null at the same w is a different image
    assert (at_w - w1[-1]).abs().max() > 1e-2


def test_corrections_must_match_the_step_count(tiny_model, two_images):
    result = direct_inversion(tiny_model, two_images, PROMPTS, num_steps=3)
    result.corrections = result.corrections[:2]
    with pytest.raises(ValueError, match="2 corrections for 3 steps"):
        reconstruct(tiny_model, result)
