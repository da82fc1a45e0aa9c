"""Properties of the written-out math: exactness when eps ignores x_t, and less drift with more steps."""
import pytest
import torch

from nti_edu.inversion import ddim_invert, drift, invert, resample
from nti_edu.metrics import psnr
from nti_edu.sampling import ddim_sample


class TimeOnlyEps:
    """Wraps a model so that eps depends on the timestep only: DDIM inversion is then exact."""

    def __init__(self, model):
        self.model, self.schedule, self.latent_shape = model, model.schedule, model.latent_shape

    def check_latents(self, x):
        self.model.check_latents(x)

    def null_embedding(self, batch=1):
        return self.model.null_embedding(batch)

    def predict_eps(self, x_t, t, emb):
        g = torch.Generator().manual_seed(int(t))
        return torch.randn(x_t.shape, generator=g).to(x_t.dtype)

    def predict_eps_pair(self, x_t, t, emb_null, emb_cond):
        return self.predict_eps(x_t, t, emb_null), 0.5 * self.predict_eps(x_t, t, emb_cond)


@pytest.mark.parametrize("dtype, w, tol", [(torch.float32, 1.0, 1e-5), (torch.float64, 1.0, 1e-12),
                                           (torch.float64, 7.5, 1e-12)])
def test_inversion_is_exact_when_eps_ignores_x(tiny_model, dtype, w, tol):
    """Inverse step and step use the same eps, so they undo each other up to round-off (float32: 1e-5)."""
    model = TimeOnlyEps(tiny_model)
    emb = tiny_model.encode_prompt(["x", "y"]).to(dtype)
    x_0 = torch.randn(2, *tiny_model.latent_shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    latents = ddim_invert(model, x_0, emb, num_steps=25, w=w)
    back = list(ddim_sample(model, latents[0], emb, num_steps=25, w=w))
    assert (back[-1] - x_0).abs().max() <= tol
    assert drift(latents, back).max() <= tol


def test_more_steps_less_drift(tiny_model):
    images = torch.rand(2, 3, tiny_model.image_size, tiny_model.image_size, generator=torch.Generator().manual_seed(1))
    errors = {}
    for n in (10, 100):
        result = invert(tiny_model, images, ["a red circle", "a blue square"], num_steps=n, w=1.0)
        back = resample(tiny_model, result)
        errors[n] = (back[-1] - result.x_0).pow(2).mean().sqrt().item()
        assert drift(result.latents, back).shape == (n + 1, 2)
    assert errors[100] < 0.8 * errors[10], errors


def test_a_float64_model_encodes_prompts_in_float32_and_computes_in_float64(model64):
    """transformers 4's CLIP cannot run in float64 (its causal mask overflows), so ``to(float64)`` keeps the text
    encoder in float32 and casts its embeddings; everything that inverts and samples is float64."""
    assert model64.unet.dtype == model64.vae.dtype == torch.float64
    assert model64.text_encoder.dtype == torch.float32
    emb = model64.encode_prompt(["a photo of a cat", ""])  # (2, L, D)
    assert emb.dtype == torch.float64 and torch.isfinite(emb).all()
    x = torch.zeros(1, *model64.latent_shape, dtype=torch.float64)  # (1, C, h, w)
    assert model64.predict_eps(x, 500, emb[:1]).dtype == torch.float64


def test_end_to_end_from_saved_folder(tiny_model):
    """Image -> latent -> inversion -> reconstruction -> image, through the from_pretrained-loaded components."""
    s = tiny_model.image_size
    image = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(2))
    vae_only = tiny_model.latent_to_image(tiny_model.image_to_latent(image))
    quality, error = {}, {}
    for n in (5, 50):
        result = invert(tiny_model, image, "a photo of a cat", num_steps=n)
        x_0 = resample(tiny_model, result)[-1]
        recon = tiny_model.latent_to_image(x_0)
        assert recon.shape == image.shape and torch.isfinite(recon).all()
        assert len(result.latents) == n + 1 and result.x_T.shape == (1, *tiny_model.latent_shape)
        quality[n], error[n] = psnr(recon, vae_only).item(), (x_0 - result.x_0).abs().mean().item()
    # a random UNet is a poor denoiser, so the absolute PSNR is low; finer steps must still bring the latent back
    # closer. The image PSNR goes through a random decoder, which need not follow the latent error: with the same
    # seed, diffusers 0.39's initialisation gave 17% less latent error at 50 steps and 0.4 dB less PSNR.
    assert error[50] < 0.9 * error[5], (error, quality)
    assert all(0 < q < 100 for q in quality.values()), quality
