"""``nti-edu invert --method`` with the paper's ablations and ``nti-edu sdedit``, on tiny random components."""
import json

import pytest
from PIL import Image

from nti_edu.cli import main
from nti_edu.images import pil_to_tensor
from nti_edu.models import load_model
from nti_edu.storage import load_result

PROMPT = "a red circle"


@pytest.mark.parametrize("method", ["random-pivot", "textual-inversion-pivot", "textual-inversion"])
def test_invert_with_an_ablation_saves_an_editable_result(tiny_model_dir, disc_png, tmp_path, method):
    out = tmp_path / method
    assert main(["invert", str(disc_png), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--method", method,
                 "--steps", "2", "--inner-steps", "1", "--out", str(out), "-q"]) == 0
    result = load_result(out)
    assert result.method == method and json.loads((out / "metrics.json").read_text())["method"] == method
    assert (result.emb_conds is not None) == method.startswith("textual")
    assert main(["edit", str(out), "--prompt", "a blue circle", "--model", str(tiny_model_dir), "--out",
                 str(tmp_path / f"{method}-edit"), "-q"]) == 0


def test_invert_refuses_bad_inner_steps_for_an_ablation(tiny_model_dir, disc_png, tmp_path, capsys):
    assert main(["invert", str(disc_png), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--method",
                 "textual-inversion-pivot", "--steps", "200", "--out", str(tmp_path / "x")]) == 2
    assert "--steps 200" in capsys.readouterr().err


def test_sdedit_at_strength_0_writes_the_vae_round_trip(tiny_model_dir, disc_png, tmp_path):
    out = tmp_path / "sd0"
    assert main(["sdedit", str(disc_png), "--prompt", "a blue circle", "--strength", "0", "--steps", "3",
                 "--model", str(tiny_model_dir), "--out", str(out), "-q"]) == 0
    model = load_model(str(tiny_model_dir))
    x = pil_to_tensor(Image.open(out / "input.png").convert("RGB"))
    expected = model.latent_to_image(model.image_to_latent(x))
    written = pil_to_tensor(Image.open(out / "sdedit.png").convert("RGB"))
    assert (written - expected).abs().max() <= 1 / 255 + 1e-6  # the PNG's 8 bits
    assert json.loads((out / "metrics.json").read_text())["strength"] == 0


@pytest.mark.parametrize("strength", ["1.5", "-0.2", "half"])
def test_sdedit_refuses_a_bad_strength(tiny_model_dir, disc_png, tmp_path, strength, capsys):
    assert main(["sdedit", str(disc_png), "--prompt", "a blue circle", "--strength", strength,
                 "--model", str(tiny_model_dir), "--out", str(tmp_path / "bad")]) == 2
    assert "strength" in capsys.readouterr().err
