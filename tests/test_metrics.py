"""PSNR by hand, SSIM against scikit-image's implementation (the oracle)."""
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from nti_edu.metrics import psnr, ssim


def test_psnr_by_hand():
    a = torch.zeros(2, 3, 8, 8)
    b = a.clone()
    b[0] += 0.1  # MSE 0.01 -> 20 dB
    b[1, :, :4] += 0.5  # MSE 0.125 -> 9.03 dB
    assert torch.allclose(psnr(a, b), torch.tensor([20.0, 10 * np.log10(8.0)], dtype=torch.float32), atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_scikit_image(seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 3, 32, 32, generator=g)
    b = (a + 0.1 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1)
    ours = ssim(a, b)
    for i in range(2):
        ref = structural_similarity(a[i].permute(1, 2, 0).numpy(), b[i].permute(1, 2, 0).numpy(), channel_axis=2,
                                    data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert abs(ours[i].item() - ref) < 1e-4
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-6)


def test_metric_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
