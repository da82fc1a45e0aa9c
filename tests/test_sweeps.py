"""The step x guidance sweep stores every point and agrees with a direct inversion."""
import pytest
import torch

from nti_edu.inversion import invert, resample
from nti_edu.metrics import psnr
from nti_edu.sweeps import sweep


def test_sweep_points_match_direct_runs(tiny_model):
    s = tiny_model.image_size
    images = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(0))
    prompts = ["a cat", "a dog"]
    result = sweep(tiny_model, images, prompts, [4, 8], [1.0, 5.0], w_samples=[1.0, 5.0], progress=False)
    assert len(result.points) == 8
    point = result.get(8, 5.0, 1.0)
    direct = tiny_model.latent_to_image(resample(tiny_model, invert(tiny_model, images, prompts, num_steps=8, w=5.0),
                                                 w=1.0)[-1])
    assert torch.allclose(point.recon, direct, atol=1e-6)
    assert torch.allclose(point.psnr, psnr(direct, images))
    assert point.drift.shape == (9, 2) and point.drift[0].abs().max() == 0  # x_T, where both start
    assert set(result.psnr_table()) == {(4, 1.0), (4, 5.0), (8, 1.0), (8, 5.0)}
    with pytest.raises(KeyError, match="was not swept"):
        result.get(16, 1.0, 1.0)
