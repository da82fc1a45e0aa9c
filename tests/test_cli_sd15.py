"""The command line on the SD-1.5 stand-in (issue 27): ``--model FOLDER`` with Stable Diffusion 1.5's structure, its
real CLIP tokenizer and 512x512 images, offline. invert (null-text), edit (a word swap and a refinement, whose words
the CLIP tokenizer splits), sweep and demo, each checked against the library on the same model."""
import csv
import json

import pytest
import torch
from PIL import Image

from nti_edu.cli import main
from nti_edu.images import pil_to_tensor
from nti_edu.metrics import psnr
from nti_edu.models import load_model
from nti_edu.reconstruction import reconstruct
from nti_edu.storage import load_result
from nti_edu.testing.notebooks import PROMPTS, write_photo

pytestmark = pytest.mark.full  # the stand-in at 512x512: minutes on 2 cores

SOURCE, SWAPPED = PROMPTS[0]  # "a cat sitting next to a mirror" -> "... a tiger ..."
REFINED = "a cat sitting next to a mirror, watercolour painting"  # "watercolour" is two CLIP tokens


def read_png(path) -> torch.Tensor:
    return pil_to_tensor(Image.open(path))  # (1, 3, H, W)


@pytest.fixture(scope="module")
def standin(sd15_standin_dir):
    return load_model(str(sd15_standin_dir))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return write_photo(tmp_path_factory.mktemp("photo") / "cat.jpg", seed=1, size=(640, 480))  # cropped, resized


@pytest.fixture(scope="module")
def inverted(sd15_standin_dir, photo, tmp_path_factory):
    out = tmp_path_factory.mktemp("inv") / "nti"
    assert main(["invert", str(photo), "--prompt", SOURCE, "--model", str(sd15_standin_dir), "--steps", "3",
                 "--inner-steps", "2", "--out", str(out), "-q"]) == 0
    return out


def test_invert_at_512(standin, inverted, no_network):
    metrics = json.loads((inverted / "metrics.json").read_text())
    result = load_result(inverted, standin)
    assert result.method == "null-text" and result.num_steps == 3 and result.emb_null[0].shape == (1, 77, 768)
    image = read_png(inverted / "input.png")
    assert image.shape == (1, 3, 512, 512)
    recon = reconstruct(standin, result)  # (1, 3, 512, 512)
    assert metrics["psnr_db"] == pytest.approx(psnr(recon, image).item(), abs=1e-3)


@pytest.mark.parametrize("target, mode", [(SWAPPED, "swap"), (REFINED, "refine")])
def test_edit_at_512(sd15_standin_dir, inverted, tmp_path, target, mode, no_network):
    """auto picks a word swap for one changed word and a refinement for added words; the source branch stays the
    reconstruction and the target branch differs from it."""
    out = tmp_path / mode
    assert main(["edit", str(inverted), "--prompt", target, "--model", str(sd15_standin_dir), "--out", str(out),
                 "-q"]) == 0
    info = json.loads((out / "edit.json").read_text())
    assert info["mode"] == mode and info["target_prompt"] == target
    source, edited = read_png(out / "source.png"), read_png(out / "edited.png")
    assert (source - read_png(inverted / "reconstruction.png")).abs().max() <= 1 / 255 + 1e-6
    assert edited.shape == (1, 3, 512, 512) and (edited - source).abs().max() > 0.02


def test_sweep_at_512(sd15_standin_dir, standin, photo, tmp_path, no_network):
    from nti_edu.images import load_image
    from nti_edu.inversion import invert, resample

    out = tmp_path / "sweep"
    assert main(["sweep", str(photo), "--prompt", SOURCE, "--model", str(sd15_standin_dir), "--steps", "1,2",
                 "--guidance", "1,7.5", "--out", str(out), "-q"]) == 0
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["steps"]), float(r["w"])) for r in rows] == [(1, 1.0), (1, 7.5), (2, 1.0), (2, 7.5)]
    image = load_image(photo, 512)  # (1, 3, 512, 512)
    inverted = invert(standin, image, SOURCE, num_steps=2, w=7.5)
    expected = psnr(standin.latent_to_image(resample(standin, inverted)[-1]), image).item()
    assert float(rows[-1]["psnr_db"]) == pytest.approx(expected, abs=1e-3)


def test_demo_at_512(sd15_standin_dir, tmp_path, no_network):
    """The main job on the stand-in: the world's held-out images resized to 512, two images, every column (the
    lecture's edits, which run on the tiny model in test_cli.py, left out with --no-lecture for time)."""
    out = tmp_path / "demo"
    assert main(["demo", "--model", str(sd15_standin_dir), "--n", "2", "--steps", "2", "--inner-steps", "1",
                 "--no-lecture", "--out", str(out), "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["lecture_examples"] == [] and not (out / "lecture.png").exists()
    rows = metrics["images"]
    assert len(rows) == 2 and rows[0]["edit"] == "+ sunglasses"
    for key in ("ddim_w1", "ddim_w1_at7.5", "ddim_w7.5", "null_text_w7.5"):
        assert all(0 < row[key]["psnr_db"] < 100 for row in rows), key
    assert Image.open(out / "demo.png").size[0] > 600
