"""nti_edu.report, the measuring behind benchmarks/null_text_report.py, on tiny random components (the world's
64x64 images, 3 steps, 2 images): its numbers agree where the algorithms say they must."""
import pytest
import torch
from diffusers import AutoencoderKL

from nti_edu.evaluator import load_evaluator
from nti_edu.metrics import psnr
from nti_edu.models import LatentDiffusion
from nti_edu.p2p import LocalBlend, Refine, WordSwap
from nti_edu.report import edits as E
from nti_edu.report.ablation import ablation
from nti_edu.report.methods import CEILING, METHODS, NULL_TEXT_METHOD, reconstruction
from nti_edu.report.scenes import edit_cases, kind_seeds, mask_quality, psnr_outside
from nti_edu.testing.random_init import TINY_VAE_CONFIG
from nti_edu.world import heldout_seeds, make_batch

STEPS = 3


@pytest.fixture(scope="module")
def model(tiny_model):
    """The tiny components with a VAE of three blocks: 64x64 images <-> the tiny UNet's 16x16 latents."""
    torch.manual_seed(0)
    vae = AutoencoderKL(**TINY_VAE_CONFIG | {"block_out_channels": (8, 16, 16), "sample_size": 64,
                                             "down_block_types": ("DownEncoderBlock2D",) * 3,
                                             "up_block_types": ("UpDecoderBlock2D",) * 3})
    m = tiny_model
    return LatentDiffusion(m.unet, vae, m.text_encoder, m.tokenizer, m.schedule, name="tiny64")


@pytest.fixture(scope="module")
def few_iterations():
    patch = pytest.MonkeyPatch()
    patch.setitem(E.NULL_TEXT, "num_inner_steps", 2)
    yield
    patch.undo()


def test_psnr_outside_the_region():
    a = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    b = a.clone()
    region = torch.zeros(2, 64, 64, dtype=torch.bool)
    b[:, :, :8, :8] += 0.1  # differences inside the top-left corner only
    assert torch.allclose(psnr_outside(a, b, region), psnr(a, b))  # empty region: plain PSNR
    region[:, :8, :8] = True
    assert torch.allclose(psnr_outside(a, b, region), torch.full((2,), 120.0))  # MSE 0, clamped at 1e-12


def test_mask_quality():
    regions = torch.ones(2, 8, 8, dtype=torch.bool)
    regions[:, 2:6, 2:6] = False  # the object: 16 pixels the edit must not touch
    keep = torch.zeros(2, 1, 8, 8)
    keep[0, :, 2:6, 2:6] = 1  # exactly the object
    keep[1, :, 2:6, 2:8] = 1  # all of it and 8 pixels more
    q = mask_quality(keep, regions)
    assert torch.equal(q["covered"], torch.tensor([1.0, 1.0]))
    assert torch.equal(q["precision"], torch.tensor([1.0, 2 / 3]))


def test_settings_per_kind():
    counts = {kind: len(E.kind_settings(kind)) for kind in ("colour swap", "shape swap", "background swap",
                                                            "add sunglasses")}
    blended = sum(s.blend_threshold is not None for s in E.SETTINGS)
    assert counts == {"colour swap": len(E.SETTINGS) + 8, "shape swap": len(E.SETTINGS),
                      "background swap": len(E.SETTINGS) + blended + 8, "add sunglasses": blended + 8}
    pasted = E.paste_settings("object")[5]
    assert (pasted.target_null, pasted.target_w, pasted.paste_back) == ("empty", 4.0, "object")
    assert pasted.as_in_paper() == E.P2PSetting(0.8, 0.4, None, E.W)  # the paper's way, same control
    assert pasted.label().endswith("the target's null \"\", paste-back of the object")
    assert E.SETTINGS[0] == E.P2PSetting(0.8, 0.4, None, E.W)  # the paper's first


def test_the_controller_comes_from_the_library(model):
    """Swap or refine by p2p.prompt_edit's rule; local blend on the changed noun, with the setting's scale."""
    cases = {kind: edit_cases(kind, kind_seeds(kind, 1, heldout=True))["edits"][0] for kind in ("shape swap",
                                                                                              "add sunglasses")}
    swap = E.controller(model.tokenizer, cases["shape swap"], STEPS, E.P2PSetting(0.4, 0.4, 0.3, 1.5))
    assert type(swap) is WordSwap and isinstance(swap.local_blend, LocalBlend) and swap.local_blend.scale == "max"
    refine = E.controller(model.tokenizer, cases["add sunglasses"], STEPS, E.P2PSetting(0.8, 0.4, None))
    assert type(refine) is Refine and refine.local_blend is None
    label = E.P2PSetting(0.8, 0.4, 0.6, blend_scale="range").label()
    assert label.endswith("local blend 0.6 (min-max maps), target w 7.5")


@pytest.mark.full
def test_reconstruction_rows_agree_where_they_must(model, few_iterations):
    images, prompts = make_batch(heldout_seeds(2))[:2]
    rows = reconstruction(model, images, prompts, STEPS, log=lambda _: None)
    assert list(rows) == list(METHODS)
    vae = psnr(model.latent_to_image(model.image_to_latent(images)), images)
    assert torch.allclose(rows[CEILING]["psnr"], vae)
    assert torch.allclose(rows["direct inversion (PnP Inversion)"]["psnr"], vae, atol=0.05)  # exact up to round-off
    fast = rows["null-text inversion, fast path (nti_edu.fast)"]["psnr"]
    assert torch.allclose(fast, rows[NULL_TEXT_METHOD]["psnr"], atol=1e-3)
    # k = 0 of the ablation is the "" embedding: DDIM inversion at w = 1 sampled at 7.5, for both
    abl = ablation(model, images, prompts, STEPS, (0, 1))
    assert torch.allclose(abl["per-step"][0], rows["DDIM inversion at w = 1, sampled at 7.5"]["psnr"], atol=1e-4)
    assert torch.equal(abl["global"][0], abl["per-step"][0]) and not torch.equal(abl["global"][1], abl["global"][0])


@pytest.mark.full
def test_edits_are_judged_and_the_best_setting_kept(model, few_iterations):
    evaluator = load_evaluator()
    plain, pasted = E.P2PSetting(0.8, 0.4, 0.6, 1.5), E.P2PSetting(0.8, 0.4, 0.6, 1.5, paste_back="added")
    chosen, rows = E.choose_setting(model, evaluator, "add sunglasses", [plain, pasted], 1, STEPS)
    assert [s for s, _ in rows] == [plain, pasted] and "mask" in rows[1][1] and "mask" not in rows[0][1]
    best = max(rows, key=lambda r: (r[1]["both"].sum().item(), r[1]["psnr_outside"].mean().item()))
    assert chosen == best[0]
    m = E.measure_edits(model, evaluator, "add sunglasses", 2, STEPS, pasted, others=[plain])
    assert m["images"].shape == (2, 3, 64, 64) and m["success"].dtype == torch.bool
    assert torch.equal(m["both"], m["success"] & (m["psnr_outside"] >= E.GOOD_PSNR))
    assert set(m["mask"]) == {"covered", "precision"} and list(m["others"]) == [plain]
    ideal = model.latent_to_image(model.image_to_latent(m["cases"]["targets"]))  # the world's target, VAE'd
    assert torch.allclose(m["ideal_outside"], psnr_outside(ideal, m["cases"]["images"], m["cases"]["regions"]))
    paper = m["paper_w"]  # the same control at w = 7.5, tuned nulls, no paste-back
    assert "mask" not in paper and not torch.equal(paper["images"], m["images"])
