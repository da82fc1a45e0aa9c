"""nti_edu.report.locality (benchmarks/vae_locality.py's measures), on stand-in VAEs whose locality is known by construction."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from nti_edu.report import locality as script


class PoolingVAE(torch.nn.Module):
    """Latent = 4 x 4 average of the pixels (plus, if ``leak``, the image's mean colour); decoder = nearest
    upsampling. With leak 0 every latent pixel stands for its own 4 x 4 pixels: a local latent."""

    def __init__(self, leak: float = 0.0):
        super().__init__()
        self.leak = leak

    def encode(self, x):  # x (B, 3, H, W) in [-1, 1]
        z = F.avg_pool2d(x, 4) + self.leak * x.mean((2, 3), keepdim=True)  # (B, 3, H/4, W/4)
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=z))

    def decode(self, z):
        return SimpleNamespace(sample=F.interpolate(z, scale_factor=4))  # (B, 3, H, W)


def scenes():
    """Two scenes: a 16 x 16 grey square (4-aligned) on a red background, then on a blue one."""
    regions = torch.ones(2, 64, 64, dtype=torch.bool)  # True: the background, which the edit changes
    regions[:, 20:36, 24:40] = False
    sources, targets = torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 64, 64)
    sources[:, 0], targets[:, 2] = 1.0, 1.0  # red, then blue backgrounds
    for images in (sources, targets):
        images[:, :, ~regions[0]] = 0.5
    return sources, targets, regions


def test_a_local_latent_does_not_change_inside_the_object_and_its_patchwork_keeps_it():
    measured = script.locality(PoolingVAE(), *scenes())
    assert measured["change_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert measured["patchwork"] == pytest.approx(measured["source"]) and measured["patchwork"] > 60


def test_a_leaky_latent_changes_inside_the_object_and_its_patchwork_does_not_keep_it():
    sources, targets, regions = scenes()
    measured = script.locality(PoolingVAE(leak=1.0), sources, targets, regions)
    # the leak moves every latent pixel by the change of the mean colour, the background's by that plus its own
    assert 0.1 < measured["change_ratio"] < 1
    assert measured["patchwork"] < 20 and measured["source"] < 20  # the leak shows in any decode
    inside, touched, far = script.object_cells(regions, 4)
    assert inside.sum() == 2 * 16 and touched.sum() == 2 * 16 and far.sum() > 0 and not (far & touched).any()


def test_round_trip_of_a_lossless_vae_is_perfect():
    images = torch.rand(2, 3, 8, 8).repeat_interleave(4, 2).repeat_interleave(4, 3)  # (2, 3, 32, 32), 4 x 4 blocks
    assert script.round_trip(PoolingVAE(), images) > 60


def test_the_training_term_is_zero_for_a_local_vae_and_not_for_a_leaky_one():
    """nti_edu.train.vae.patchwork_loss, what the VAE stage adds with --vae-locality: 0 exactly where the
    latent is local (images of 4 x 4 blocks, so the pooling VAE is lossless), > 0 where it leaks."""
    from nti_edu.train.vae import patchwork_loss

    x = torch.rand(4, 3, 4, 4).repeat_interleave(4, 2).repeat_interleave(4, 3) * 2 - 1  # (4, 3, 16, 16)
    for leak, zero in ((0.0, True), (1.0, False)):
        vae = PoolingVAE(leak)
        z = vae.encode(x).latent_dist.mean  # (4, 3, 4, 4)
        loss = patchwork_loss(vae, x, z, 0.5, torch.Generator().manual_seed(0))
        assert (loss.item() < 1e-6) == zero, (leak, loss.item())  # float32 round-off


def test_candidates_start_from_the_shipped_vae_with_or_without_the_mid_block_attention():
    """benchmarks/vae_locality_candidates.py: the shipped weights, all of them, or all but the attention's."""
    from diffusers import AutoencoderKL

    from nti_edu.models.loading import embedded_dir

    shipped = AutoencoderKL.from_pretrained(embedded_dir() / "vae").state_dict()
    for keep in (True, False):
        state = script.candidate_vae(keep).state_dict()
        assert all(torch.equal(v, shipped[k]) for k, v in state.items())
        assert any("attentions" in k for k in state) == keep
        assert len(state) == len(shipped) if keep else len(state) < len(shipped)


def test_candidates_can_start_from_another_model_folder(tmp_path):
    """--from: the VAE of the given model folder, not the shipped one."""
    from diffusers import AutoencoderKL

    from nti_edu.models.loading import embedded_dir

    other = AutoencoderKL.from_pretrained(embedded_dir() / "vae")
    with torch.no_grad():
        other.quant_conv.bias.add_(1.0)
    other.save_pretrained(tmp_path / "vae")
    state = script.candidate_vae(True, tmp_path).state_dict()
    assert torch.equal(state["quant_conv.bias"], other.quant_conv.bias)
