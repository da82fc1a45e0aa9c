"""The ``nti-edu`` command line: each command end to end on tiny random components, offline.

Most tests call ``main([...])`` in-process (imports and the model folder are shared); one runs
``python -m nti_edu --help`` in a subprocess. Tests that need the trained embedded model are skipped
while it is missing from the package.
"""
import csv
import json
import socket
import subprocess
import sys

import pytest
import torch
from PIL import Image

from conftest import NetworkBlocked
from nti_edu.cli import main
from nti_edu.images import MIN_SIDE, pil_to_tensor, tensor_to_pil
from nti_edu.metrics import psnr
from nti_edu.models import load_model
from nti_edu.storage import load_result
from nti_edu.reconstruction import reconstruct

PROMPT = "a red circle"


def read_png(path) -> torch.Tensor:
    return pil_to_tensor(Image.open(path))  # (1, 3, H, W)


@pytest.fixture(scope="module")
def inverted(tiny_model_dir, disc_png, tmp_path_factory):
    """A null-text inversion written by ``nti-edu invert`` (4 steps, 2 inner iterations)."""
    out = tmp_path_factory.mktemp("inv") / "nti"
    code = main(["invert", str(disc_png), "--prompt", PROMPT, "--model", str(tiny_model_dir),
                 "--steps", "4", "--inner-steps", "2", "--out", str(out), "-q"])
    assert code == 0
    return out


def test_help_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "nti_edu", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("demo", "invert", "edit", "sweep"):
        assert command in done.stdout


def test_help_documents_the_image_rule(capsys):
    assert main(["invert", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"under {MIN_SIDE} pixels are refused" in text  # the same limit as nti_edu.images
    assert "composited over white" in text and "16-bit" in text and "centred square" in text


def test_invert_writes_a_consistent_result(tiny_model_dir, disc_png, inverted, no_network):
    files = sorted(p.name for p in inverted.iterdir())
    assert files == ["input.png", "inversion.json", "inversion.safetensors", "metrics.json", "reconstruction.png"]
    metrics = json.loads((inverted / "metrics.json").read_text())
    model = load_model(str(tiny_model_dir))
    result = load_result(inverted, model)
    assert result.method == "null-text" and result.num_steps == 4 and result.w == 7.5 and len(result.emb_null) == 4
    image = read_png(inverted / "input.png")
    assert torch.equal(image, read_png(disc_png))  # 32x32 already: used as it is
    recon = reconstruct(model, result)  # (1, 3, 32, 32)
    assert metrics["psnr_db"] == pytest.approx(psnr(recon, image).item(), abs=1e-3)
    assert torch.equal(read_png(inverted / "reconstruction.png"), pil_to_tensor(tensor_to_pil(recon)))


def test_invert_fast_is_the_same_inversion(tiny_model_dir, disc_png, inverted, tmp_path):
    """--fast runs nti_edu.fast's path: the same algorithm, so the same losses and reconstruction (up to
    float32 rounding), and the saved settings say which path ran."""
    out = tmp_path / "fast"
    assert main(["invert", str(disc_png), "--prompt", PROMPT, "--model", str(tiny_model_dir),
                 "--steps", "4", "--inner-steps", "2", "--out", str(out), "-q", "--fast"]) == 0
    fast, plain = (json.loads((d / "metrics.json").read_text()) for d in (out, inverted))
    assert fast["fast"] is True and plain["fast"] is False
    assert abs(fast["psnr_db"] - plain["psnr_db"]) < 0.01
    model = load_model(str(tiny_model_dir))
    fast_result, plain_result = load_result(out, model), load_result(inverted, model)
    assert fast_result.settings["fast"]["cache"] is True and "fast" not in plain_result.settings
    for mine, theirs in zip(fast_result.losses, plain_result.losses):
        assert mine == pytest.approx(theirs, rel=1e-3)


def test_invert_is_offline(tiny_model_dir, disc_png, tmp_path, no_network):
    with pytest.raises(NetworkBlocked):  # the fixture does block
        socket.create_connection(("example.com", 80))
    out = tmp_path / "ddim"
    assert main(["invert", str(disc_png), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--method", "ddim",
                 "--steps", "3", "--guidance", "1", "--out", str(out), "-q"]) == 0
    assert json.loads((out / "metrics.json").read_text())["method"] == "ddim"


def test_direct_inversion_reconstructs_up_to_the_vae(tiny_model_dir, disc_png, tmp_path):
    """Direct inversion retraces the pivots exactly, so its PSNR is the VAE round trip's."""
    out = tmp_path / "direct"
    assert main(["invert", str(disc_png), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--method",
                 "direct", "--steps", "3", "--out", str(out), "-q"]) == 0
    model = load_model(str(tiny_model_dir))
    image = read_png(disc_png)
    vae_only = psnr(model.latent_to_image(model.image_to_latent(image)), image).item()
    assert json.loads((out / "metrics.json").read_text())["psnr_db"] == pytest.approx(vae_only, abs=0.05)


@pytest.mark.parametrize("mode, prompt, extra", [
    ("plain", "a blue circle", []),
    ("swap", "a blue circle", ["--blend", "red", "blue"]),
    ("swap", "a blue circle", ["--blend", "circle", "--blend-subtract", "red", "blue"]),
    ("refine", "a big red circle", ["--reweight", "big=2"]),
    ("reweight", None, ["--reweight", "red=3"]),
])
def test_edit_modes(tiny_model_dir, inverted, tmp_path, mode, prompt, extra):
    out = tmp_path / mode
    argv = ["edit", str(inverted), "--mode", mode, "--model", str(tiny_model_dir), "--out", str(out), "-q", *extra]
    assert main(argv + (["--prompt", prompt] if prompt else [])) == 0
    assert sorted(p.name for p in out.iterdir()) == ["edit.json", "edited.png", "source.png"]
    info = json.loads((out / "edit.json").read_text())
    assert info["mode"] == mode and info["target_prompt"] == (prompt or PROMPT) and info["num_steps"] == 4
    assert info["blend_subtract"] == (["red", "blue"] if "--blend-subtract" in extra else None)
    source, edited = read_png(out / "source.png"), read_png(out / "edited.png")
    # the source branch is the reconstruction (up to 8-bit rounding), the target branch differs from it
    assert (source - read_png(inverted / "reconstruction.png")).abs().max() <= 1 / 255 + 1e-6
    if "--blend-subtract" in extra:
        # the random model's maps are nearly uniform, so divided by their maximum (the official LocalBlend) every
        # pixel passes the threshold for "red"/"blue" too: subtracting them leaves no region to change
        assert (edited - source).abs().max() <= 1 / 255 + 1e-6
    else:
        assert (edited - source).abs().max() > 0.02
    assert info["edited_vs_source"]["psnr_db"] == pytest.approx(psnr(edited, source).item(), abs=0.2)


def test_edit_target_w(tiny_model_dir, inverted, tmp_path):
    """--target-w steers the target branch only: the source stays the reconstruction, the edit changes."""
    outs = {}
    for w_t in ("7.5", "1.5"):
        out = outs[w_t] = tmp_path / w_t
        assert main(["edit", str(inverted), "--prompt", "a blue circle", "--target-w", w_t, "--model",
                     str(tiny_model_dir), "--out", str(out), "-q"]) == 0
        assert json.loads((out / "edit.json").read_text())["target_w"] == float(w_t)
    default = tmp_path / "default"
    assert main(["edit", str(inverted), "--prompt", "a blue circle", "--model", str(tiny_model_dir), "--out",
                 str(default), "-q"]) == 0
    assert json.loads((default / "edit.json").read_text())["target_w"] == 7.5  # the inversion's w
    same, low = (read_png(outs[w] / "edited.png") for w in ("7.5", "1.5"))
    assert torch.equal(same, read_png(default / "edited.png")) and (low - same).abs().max() > 0.02
    assert torch.equal(read_png(outs["1.5"] / "source.png"), read_png(default / "source.png"))


def test_edit_paste_back(tiny_model_dir, inverted, tmp_path):
    """--paste-back: the input's pixels where the mask is, the sampled edit elsewhere; both kept as files."""
    out = tmp_path / "paste"
    assert main(["edit", str(inverted), "--prompt", "a blue circle", "--paste-back", "circle", "--target-null",
                 "empty", "--model", str(tiny_model_dir), "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["edit.json", "edited.png", "edited_before_paste_back.png",
                                                     "paste_back_mask.png", "source.png"]
    info = json.loads((out / "edit.json").read_text())
    assert info["paste_back"] == ["circle"] and info["target_null"] == "empty"
    mask = read_png(out / "paste_back_mask.png")[:, :1] > 0.5  # (1, 1, H, W)
    pasted, before = (read_png(out / f) for f in ("edited.png", "edited_before_paste_back.png"))
    image = read_png(inverted / "input.png")
    assert 0 < mask.float().mean() < 1
    assert ((pasted - image).abs() * mask).max() <= 1 / 255 + 1e-6  # the input inside the mask
    assert ((pasted - before).abs() * ~mask).max() <= 1 / 255 + 1e-6  # the edit outside it
    outside = tmp_path / "paste_outside"  # a new colour of the circle: the input everywhere else
    assert main(["edit", str(inverted), "--prompt", "a blue circle", "--paste-back", "circle", "--paste-back-outside",
                 "--model", str(tiny_model_dir), "--out", str(outside), "-q"]) == 0
    assert json.loads((outside / "edit.json").read_text())["paste_back_outside"] is True
    rest = read_png(outside / "paste_back_mask.png")[:, :1] > 0.5  # (1, 1, H, W)
    assert torch.equal(rest, ~mask)  # the same region's other side (the source branch's maps, the same input)
    pasted = read_png(outside / "edited.png")
    assert ((pasted - image).abs() * rest).max() <= 1 / 255 + 1e-6
    added = tmp_path / "paste_added"  # a word only the target has: its region from the target's maps, on the edit
    assert main(["edit", str(inverted), "--prompt", "a blue circle", "--paste-back", "blue", "--paste-back-outside",
                 "--model", str(tiny_model_dir), "--out", str(added), "-q"]) == 0
    rest = read_png(added / "paste_back_mask.png")[:, :1] > 0.5  # (1, 1, H, W)
    pasted, before = (read_png(added / f) for f in ("edited.png", "edited_before_paste_back.png"))
    assert 0 < rest.float().mean() < 1 and ((pasted - image).abs() * rest).max() <= 1 / 255 + 1e-6
    assert ((pasted - before).abs() * ~rest).max() <= 1 / 255 + 1e-6


def test_edit_auto_picks_swap_or_refine(tiny_model_dir, inverted, tmp_path, capsys):
    for prompt, mode in (("a blue circle", "swap"), ("a small red circle", "refine")):
        assert main(["edit", str(inverted), "--prompt", prompt, "--model", str(tiny_model_dir), "--out",
                     str(tmp_path / mode), "-q"]) == 0
        assert json.loads((tmp_path / mode / "edit.json").read_text())["mode"] == mode
        assert f"using {mode}" in capsys.readouterr().err


def test_sweep_table_matches_the_library(tiny_model_dir, disc_png, tmp_path):
    from nti_edu.inversion import invert, resample

    out = tmp_path / "sweep"
    assert main(["sweep", str(disc_png), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--steps", "3,2",
                 "--guidance", "1,3", "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["input.png", "sweep.csv", "sweep.png"]
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["steps"]), float(r["w"])) for r in rows] == [(2, 1.0), (2, 3.0), (3, 1.0), (3, 3.0)]
    model, image = load_model(str(tiny_model_dir)), read_png(disc_png)
    inverted = invert(model, image, PROMPT, num_steps=3, w=3.0)
    expected = psnr(model.latent_to_image(resample(model, inverted)[-1]), image).item()
    assert float(rows[-1]["psnr_db"]) == pytest.approx(expected, abs=1e-3)
    assert all(float(r["final_drift"]) > 0 for r in rows)
    assert Image.open(out / "sweep.png").size[0] > 300


def test_demo_on_tiny_components(tiny_model_dir, tmp_path, capsys, no_network):
    from nti_edu.cli.demo import world_images
    from nti_edu.inversion import invert

    out = tmp_path / "demo"
    assert main(["demo", "--model", str(tiny_model_dir), "--n", "2", "--steps", "3", "--inner-steps", "1",
                 "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["demo.png", "lecture.png", "metrics.json"]
    metrics = json.loads((out / "metrics.json").read_text())
    lecture = metrics["lecture_examples"]  # a CLIP tokenizer knows every word: all three, at the tiny side
    assert [r["lecture"] for r in lecture] == ["a face -> the same face with sunglasses", "a dog -> a cat",
                                               "a portrait -> an abstract painting"]
    assert [r["edit_shows_target"] for r in lecture] == [None] * 3  # the evaluator reads 64-pixel images only
    assert "cat" in lecture[1]["target_prompt"] and not metrics["lecture_examples_skipped"]
    rows = metrics["images"]
    assert len(rows) == 2 and "face" in rows[0]["prompt"] and rows[0]["edit"] == "+ sunglasses"
    assert "sunglasses" in rows[0]["target_prompt"] and "face" not in rows[1]["prompt"]
    model = load_model(str(tiny_model_dir))
    images, prompts, _ = world_images(model, 2, 0)
    assert prompts == [r["prompt"] for r in rows]
    inverted = invert(model, images, prompts, num_steps=3, w=1.0)
    for key, w in (("ddim_w1", None), ("ddim_w1_at7.5", 7.5)):  # the w = 1 inversion, sampled at 1 and at 7.5
        recon = reconstruct(model, inverted, w=w)
        assert rows[1][key]["psnr_db"] == pytest.approx(psnr(recon, images)[1].item(), abs=1e-3)
    printed = capsys.readouterr().out
    assert rows[0]["prompt"] in printed and "mean" in printed
    width, height = Image.open(out / "demo.png").size
    assert width > height > 200  # 2 rows x 6 columns


def test_demo_on_the_embedded_model_offline(tmp_path, no_network):
    """The main job, shortened (2 images, 20 steps, 10 inner iterations), offline: null-text inversion at
    w = 7.5 reconstructs far better than its own pivots (DDIM at w = 1) sampled at 7.5 and than DDIM
    inversion at 7.5, and nearly as well as DDIM at w = 1 (measured: 29.5, 20.0, 24.4 and 29.8 dB)."""
    out = tmp_path / "demo"
    assert main(["demo", "--n", "2", "--steps", "20", "--inner-steps", "10", "--out", str(out), "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    mean = metrics["mean_psnr_db"]
    assert mean["null_text_w7.5"] > mean["ddim_w1_at7.5"] + 6
    assert mean["null_text_w7.5"] > mean["ddim_w7.5"] + 3
    assert mean["null_text_w7.5"] > mean["ddim_w1"] - 1.5 and mean["ddim_w1"] > mean["ddim_w7.5"]
    lecture = {r["lecture"]: r["edit_shows_target"] for r in metrics["lecture_examples"]}
    assert "a face -> the same face with sunglasses" in lecture and all(lecture.values()), lecture  # each shows it
    assert len(lecture) + len(metrics["lecture_examples_skipped"]) == 3  # the rest: words the model lacks


def test_invert_on_the_embedded_model_offline(tmp_path, no_network):
    from nti_edu.world import make_example

    path = tmp_path / "scene.png"
    ex = make_example(1_000_000_007)
    tensor_to_pil(ex.image).save(path)
    out = tmp_path / "inv"
    assert main(["invert", str(path), "--prompt", ex.prompt, "--steps", "20", "--inner-steps", "5",
                 "--out", str(out), "-q"]) == 0
    assert json.loads((out / "metrics.json").read_text())["psnr_db"] > 20
