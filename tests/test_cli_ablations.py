"""``nti-edu invert --method`` with the paper's ablations and ``nti-edu sdedit``, on tiny random components."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from nti_edu.cli import main
from nti_edu.images import pil_to_tensor
from nti_edu.models import load_model
from nti_edu.storage import load_result

PROMPT = "a red circle"


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    """A 32x32 red disc on blue (the tiny model's side)."""
    y, x = np.mgrid[:32, :32]
    arr = np.zeros((32, 32, 3), np.uint8)
    arr[...] = (40, 80, 225)
    arr[(x - 16) ** 2 + (y - 16) ** 2 < 81] = (220, 30, 30)
    path = tmp_path_factory.mktemp("img") / "disc.png"
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize("method", ["random-pivot", "textual-inversion-pivot", "textual-inversion"])
def test_invert_with_an_ablation_saves_an_editable_result(tiny_model_dir, image_file, tmp_path, method):
    out = tmp_path / method
    assert main(["invert", str(image_file), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--method", method,
                 "--steps", "2", "--inner-steps", "1", "--out", str(out), "-q"]) == 0
    result = load_result(out)
    assert result.method == method and json.loads((out / "metrics.json").read_text())["method"] == method
    assert (result.emb_conds is not None) == method.startswith("textual")
    assert main(["edit", str(out), "--prompt", "a blue circle", "--model", str(tiny_model_dir), "--out",
                 str(tmp_path / f"{method}-edit"), "-q"]) == 0


def test_invert_refuses_bad_inner_steps_for_an_ablation(tiny_model_dir, image_file, tmp_path, capsys):
    assert main(["invert", str(image_file), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--method",
                 "textual-inversion-pivot", "--steps", "200", "--out", str(tmp_path / "x")]) == 2
    assert "--steps 200" in capsys.readouterr().err


def test_sdedit_at_strength_0_writes_the_vae_round_trip(tiny_model_dir, image_file, tmp_path):
    out = tmp_path / "sd0"
    assert main(["sdedit", str(image_file), "--prompt", "a blue circle", "--strength", "0", "--steps", "3",
                 "--model", str(tiny_model_dir), "--out", str(out), "-q"]) == 0
    model = load_model(str(tiny_model_dir))
    x = pil_to_tensor(Image.open(out / "input.png").convert("RGB"))
    expected = model.latent_to_image(model.image_to_latent(x))
    written = pil_to_tensor(Image.open(out / "sdedit.png").convert("RGB"))
    assert (written - expected).abs().max() <= 1 / 255 + 1e-6  # the PNG's 8 bits
    assert json.loads((out / "metrics.json").read_text())["strength"] == 0


@pytest.mark.parametrize("strength", ["1.5", "-0.2", "half"])
def test_sdedit_refuses_a_bad_strength(tiny_model_dir, image_file, tmp_path, strength, capsys):
    assert main(["sdedit", str(image_file), "--prompt", "a blue circle", "--strength", strength,
                 "--model", str(tiny_model_dir), "--out", str(tmp_path / "bad")]) == 2
    assert "strength" in capsys.readouterr().err
