"""benchmarks/null_text_report.py on tiny random components (the world's 64x64 images, 3 steps, 2 images):
the report runs end to end, writes its files, and its numbers agree where the algorithms say they must."""
import sys

import pytest
import torch
from benchmark_scripts import load_benchmark
from diffusers import AutoencoderKL

from nti_edu.evaluator import load_evaluator
from nti_edu.metrics import psnr
from nti_edu.models import LatentDiffusion
from nti_edu.testing.random_init import TINY_VAE_CONFIG
from nti_edu.null_text import global_null_text_inversion, pivots
from nti_edu.world import heldout_seeds, make_batch

STEPS = 3


@pytest.fixture(scope="module")
def report():
    yield load_benchmark("null_text_report", register=True)
    sys.modules.pop("null_text_report", None)


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
def run(report, model, tmp_path_factory):
    """The whole report, 2 images, 3 steps, 2 inner iterations, two Prompt-to-Prompt settings to choose from."""
    patch = pytest.MonkeyPatch()
    patch.setattr(report, "NULL_TEXT", {"num_inner_steps": 2, "early_stop_eps": 1e-5})
    patch.setattr(report, "SETTINGS", report.SETTINGS[:2])  # no local blend; local blend 0.3
    paste_settings = report.paste_settings
    patch.setattr(report, "paste_settings",
                  lambda side, blend=None: paste_settings(side, blend)[5:6])  # "" null, target w 4
    args = report.parse_args(["--quick", "--out", str(tmp_path_factory.mktemp("report"))])
    args.n, args.n_ablation, args.n_edit, args.n_tune, args.steps, args.iterations = 2, 2, 2, 1, STEPS, (0, 1)
    results = report.run(model, load_evaluator(), args)
    path = report.write_report(model, args, results, 1.0, (1.0, 1.0, 1.0))
    patch.undo()
    return args, results, path


def test_psnr_outside_the_region(report):
    a = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    b = a.clone()
    region = torch.zeros(2, 64, 64, dtype=torch.bool)
    b[:, :, :8, :8] += 0.1  # differences inside the top-left corner only
    assert torch.allclose(report.psnr_outside(a, b, region), psnr(a, b))  # empty region: plain PSNR
    region[:, :8, :8] = True
    assert torch.allclose(report.psnr_outside(a, b, region), torch.full((2,), 120.0))  # MSE 0, clamped at 1e-12


def test_changed_words(report):
    assert report.changed_words("a red circle on a blue background", "a red star on a blue background", False) == \
        (("circle",), ("star",))
    assert report.changed_words("a pink face on a red background",
                                "a pink face with sunglasses on a red background", True) == ((), ("with", "sunglasses"))


def test_reconstruction_rows_agree_where_they_must(model, run):
    rows, images = run[1]["rows"], run[1]["images"]
    vae = psnr(model.latent_to_image(model.image_to_latent(images)), images)
    assert torch.allclose(rows["VAE round trip (the ceiling)"]["psnr"], vae)
    assert torch.allclose(rows["direct inversion (PnP Inversion)"]["psnr"], vae, atol=0.05)  # exact up to round-off
    fast, readable = (rows[k]["psnr"] for k in ("null-text inversion, fast path (nti_edu.fast)",
                                                "null-text inversion (nti_edu.null_text)"))
    assert torch.allclose(fast, readable, atol=1e-3)
    assert all(r["psnr"].shape == (2,) and r["seconds"] > 0 for r in rows.values())
    # k = 0 of the ablation is the "" embedding: DDIM inversion at w = 1 sampled at 7.5, for both
    ablation, ddim = run[1]["ablation"], rows["DDIM inversion at w = 1, sampled at 7.5"]["psnr"]
    assert torch.allclose(ablation["per-step"][0], ddim, atol=1e-4)
    assert torch.equal(ablation["global"][0], ablation["per-step"][0])


def test_global_snapshots_match_separate_runs(report, model):
    images, prompts = make_batch(heldout_seeds(2))[:2]
    pivotal = pivots(model, images, prompts, num_steps=STEPS)
    snapshots = report.global_nulls(model, pivotal.latents, pivotal.emb_cond, (0, 1, 2))
    separate = global_null_text_inversion(model, images, prompts, num_steps=STEPS, num_epochs=2, progress=False)
    assert torch.allclose(snapshots[2], separate.emb_null[0], atol=1e-6)
    assert torch.equal(snapshots[0], model.null_embedding(2)) and not torch.allclose(snapshots[1], snapshots[2])


def test_edits_and_the_written_report(report, model, run):
    args, results, path = run
    assert list(results["edits"]) == ["colour swap", "shape swap", "background swap", "add sunglasses"]
    chosen, tried = results["tuning"]["add sunglasses"]
    assert [s.blend_threshold for s, _ in tried] == [0.3, 0.6] and chosen.blend_threshold  # always blended
    assert [s.paste_back for s, _ in tried] == ["", "added"] and "mask" in tried[1][1]  # all but the sunglasses
    tried_colour = results["tuning"]["colour swap"][1]  # and paste-back of all but the object
    assert [s.paste_back for s, _ in tried_colour] == ["", "", "outside"] and "mask" in tried_colour[2][1]
    tried_bg = [s for s, _ in results["tuning"]["background swap"][1]]  # and the blend less the object
    assert [s.subtract_object for s in tried_bg] == [False, False, True, False]
    assert tried_bg[2].label().endswith("local blend 0.3 less the object, target w 7.5")
    assert tried_bg[3].label().endswith("target w 4.0, the target's null \"\", paste-back of the object")
    pasted = results["tuning"]["background swap"][1][3][1]
    assert set(pasted["mask"]) == {"covered", "precision"}
    assert all(v.shape == (1,) and 0 <= v.min() <= v.max() <= 1 for v in pasted["mask"].values())
    bg = results["edits"]["background swap"]
    ideal = model.latent_to_image(model.image_to_latent(bg["cases"]["targets"]))  # the world's target, VAE'd
    cases = bg["cases"]
    assert torch.allclose(bg["ideal_outside"], report.psnr_outside(ideal, cases["images"], cases["regions"]))
    m = results["edits"]["add sunglasses"]
    assert m["images"].shape == (2, 3, 64, 64) and m["success"].dtype == torch.bool
    assert torch.equal(m["both"], m["success"] & (m["psnr_outside"] >= 25))
    text = path.read_text()
    for heading in ("## 1. Reconstruction", "## 2. The paper's ablation", "## 3. Edits", "## 4. What this shows"):
        assert heading in text
    assert "tiny64" in text and text.count("| add sunglasses |") == 3  # two tuning rows, one held-out row
    for name in ("reconstruction", "ablation", "edits"):
        assert 0 < (args.out / f"null_text_{name}.png").stat().st_size < 300_000


def test_settings_per_kind(report):
    counts = {kind: len(report.kind_settings(kind)) for kind in report.EDIT_KINDS}
    blended = sum(s.blend_threshold is not None for s in report.SETTINGS)
    assert counts == {"colour swap": len(report.SETTINGS) + 8, "shape swap": len(report.SETTINGS),
                      "background swap": len(report.SETTINGS) + blended + 8, "add sunglasses": blended + 8}
    pasted = report.paste_settings("object")[5]
    assert (pasted.target_null, pasted.target_w, pasted.paste_back) == ("empty", 4.0, "object")
    assert pasted.as_in_paper() == report.P2PSetting(0.8, 0.4, None, report.W)  # the paper's way, same control
    assert {s.paste_back for s in report.kind_settings("colour swap")} == {"", "outside"}
    assert pasted.label().endswith("the target's null \"\", paste-back of the object")
    assert report.paste_settings("outside")[0].label().endswith("target w 7.5, paste-back outside the object")
    assert report.SETTINGS[0] == report.P2PSetting(0.8, 0.4, None, report.W)  # the paper's first


def test_mask_quality(report):
    regions = torch.ones(2, 8, 8, dtype=torch.bool)
    regions[:, 2:6, 2:6] = False  # the object: 16 pixels the edit must not touch
    keep = torch.zeros(2, 1, 8, 8)
    keep[0, :, 2:6, 2:6] = 1  # exactly the object
    keep[1, :, 2:6, 2:8] = 1  # all of it and 8 pixels more
    q = report.mask_quality(keep, regions)
    assert torch.equal(q["covered"], torch.tensor([1.0, 1.0])) and torch.equal(q["precision"], torch.tensor([1.0, 2 / 3]))


def test_reuse_measures_only_the_held_out_edits_again(report, model, run, tmp_path):
    """--reuse: sections 1, 2 and the setting choice from an earlier run's --results file; the held-out edits anew."""
    args, results, _ = run
    saved = tmp_path / "results.pt"
    torch.save({"results": results, "seconds": 60.0, "load_before": (1.0, 1.0, 1.0)}, saved)
    again = report.parse_args(["--quick", "--out", str(tmp_path), "--reuse", str(saved), "--n-edit", "1"])
    again.n, again.steps = args.n, args.steps
    patch = pytest.MonkeyPatch()
    patch.setattr(report, "NULL_TEXT", {"num_inner_steps": 2, "early_stop_eps": 1e-5})
    reused = report.run(model, load_evaluator(), again)
    patch.undo()
    assert reused["rows"] is not results["rows"] and reused["rows"].keys() == results["rows"].keys()
    assert all(len(m["success"]) == 1 for m in reused["edits"].values())  # measured again, one scene per kind
    for kind, m in reused["edits"].items():
        assert m["setting"] == results["tuning"][kind][0]  # the earlier run's choice
        assert m["cases"]["edits"][0] == results["edits"][kind]["cases"]["edits"][0]  # the same first scene
    text = report.write_report(model, again, reused, 1.0, (1.0, 1.0, 1.0)).read_text()
    assert "those of an earlier run of this script" in text and str(saved) in text
    bad = report.parse_args(["--quick", "--reuse", str(saved)])  # another number of reconstruction images
    with pytest.raises(ValueError, match="reconstruction images"):
        report.run(model, load_evaluator(), bad)
