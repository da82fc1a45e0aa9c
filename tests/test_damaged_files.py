"""Damaged files (issue 29): truncated to half, to 100 bytes or to nothing, replaced by another kind of file, or
with flipped bits. Every file nti_edu reads (saved inversions, model folders, images) is refused with a one-line
error that names it, through the API and through ``nti-edu`` (exit status 2, nothing written)."""
import json
import os
import shutil
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from nti_edu.cli import main
from nti_edu.files import DamagedFileError, sha256
from nti_edu.images import ImageError, open_image
from nti_edu.inversion import invert
from nti_edu.models import load_model
from nti_edu.storage import SETTINGS, TENSORS, load_result, read_settings, save_result

PROMPT = "a red circle"
PNG_BYTES = bytes.fromhex("89504e470d0a1a0a0000000d49484452")  # the start of a PNG: another kind of file


def damaged(data: bytes, how: str) -> bytes:
    """``data`` damaged ``how``: half, 100 (bytes), empty, other (another kind of file) or flip@POS (one bit)."""
    if how.startswith("flip@"):
        pos = int(how[5:]) % len(data)
        return data[:pos] + bytes([data[pos] ^ (1 << pos % 8)]) + data[pos + 1:]
    return {"half": data[: len(data) // 2], "100": data[:100], "empty": b"", "other": PNG_BYTES}[how]


def damage(path, how: str) -> None:
    path.write_bytes(damaged(path.read_bytes(), how))


def one_line_naming(err: Exception, path) -> str:
    text = str(err)
    assert "\n" not in text and str(path) in text, text
    return text


HOWS = ["half", "100", "empty", "other", "flip@-9", "flip@4001", "flip@50"]


@pytest.fixture(scope="module")
def saved(tiny_model, tmp_path_factory):
    s = tiny_model.image_size
    image = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(3))
    result = invert(tiny_model, image, PROMPT, num_steps=3, w=1.0)
    return save_result(result, tmp_path_factory.mktemp("inv"), tiny_model)


def copy(folder, tmp_path):
    return shutil.copytree(folder, tmp_path / "copy")


# -- saved inversions, through the API -------------------------------------------------------------

def test_saved_inversion_records_its_checksums_and_umask_modes(saved):
    settings = read_settings(saved)
    assert settings["tensors_sha256"] == sha256(saved / TENSORS)
    mask = os.umask(0o022)
    os.umask(mask)
    for name in (TENSORS, SETTINGS):  # safetensors' own save_file writes 0600; every output now 0666 less the umask
        assert stat.S_IMODE((saved / name).stat().st_mode) == 0o666 & ~mask, name


@pytest.mark.parametrize("name", [TENSORS, SETTINGS])
@pytest.mark.parametrize("how", HOWS)
def test_damaged_inversion_is_refused_naming_the_file(tiny_model, saved, tmp_path, name, how):
    folder = copy(saved, tmp_path)
    damage(folder / name, how)
    with pytest.raises(ValueError) as info:
        load_result(folder, tiny_model)
    text = one_line_naming(info.value, folder)
    assert isinstance(info.value, DamagedFileError) or "incomplete save" in text, text


def test_every_bit_flip_of_the_settings_is_refused_or_changes_nothing(saved, tmp_path):
    folder = copy(saved, tmp_path)
    data, original = (saved / SETTINGS).read_bytes(), read_settings(saved)
    refused = 0
    for pos in range(0, len(data), 3):
        (folder / SETTINGS).write_bytes(damaged(data, f"flip@{pos}"))
        try:
            assert read_settings(folder) == original  # e.g. 1e-05 -> 1E-05: the same number
        except DamagedFileError as err:
            refused += 1
            one_line_naming(err, folder / SETTINGS)
    assert refused > 0.95 * len(range(0, len(data), 3))


def test_every_bit_flip_of_the_tensors_is_refused(tiny_model, saved, tmp_path):
    folder = copy(saved, tmp_path)
    data = (saved / TENSORS).read_bytes()
    for pos in range(0, len(data), max(1, len(data) // 300)):
        (folder / TENSORS).write_bytes(damaged(data, f"flip@{pos}"))
        with pytest.raises(ValueError) as info:
            load_result(folder, tiny_model)
        one_line_naming(info.value, folder)


def test_saves_from_before_checksums_still_load(tiny_model, saved, tmp_path):
    folder = copy(saved, tmp_path)
    settings = json.loads((folder / SETTINGS).read_text())
    del settings["tensors_sha256"], settings["settings_sha256"]
    (folder / SETTINGS).write_text(json.dumps(settings))
    old, new = load_result(folder, tiny_model), load_result(saved, tiny_model)
    assert all(torch.equal(a, b) for a, b in zip(old.latents + old.emb_null, new.latents + new.emb_null, strict=True))


@pytest.mark.parametrize("value", [[1, 2], "text", 3])
def test_settings_of_another_shape_are_refused(saved, tmp_path, value):
    folder = copy(saved, tmp_path)
    (folder / SETTINGS).write_text(json.dumps(value))
    with pytest.raises(DamagedFileError, match="holds a JSON .*, not an object"):
        read_settings(folder)
    (folder / SETTINGS).write_text(json.dumps({"format": 1}))
    with pytest.raises(DamagedFileError, match="'save_id' is missing"):
        read_settings(folder)


# -- saved inversions, through the command line ----------------------------------------------------

@pytest.fixture(scope="module")
def inverted(tiny_model_dir, tmp_path_factory):
    img = tmp_path_factory.mktemp("img") / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(img)
    out = tmp_path_factory.mktemp("cli") / "inv"
    assert main(["invert", str(img), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--method", "ddim",
                 "--steps", "2", "--out", str(out), "-q"]) == 0
    return out


def run(capsys, argv) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("nti-edu: error:")]  # notes may come before
    assert len(lines) == 1 and "Traceback" not in err and err.rstrip().splitlines()[-1] == lines[0], err
    return code, lines[0]


@pytest.mark.parametrize("name,how", [(TENSORS, h) for h in HOWS[:5]] + [(SETTINGS, h) for h in HOWS[:5]]
                         + [(SETTINGS, "flip@-40")])
def test_edit_refuses_a_damaged_inversion(tiny_model_dir, inverted, tmp_path, capsys, name, how):
    folder = copy(inverted, tmp_path)
    damage(folder / name, how)
    code, line = run(capsys, ["edit", str(folder), "--prompt", "a blue circle", "--model", str(tiny_model_dir),
                              "--out", str(tmp_path / "edit")])
    assert code == 2 and str(folder) in line
    assert not (tmp_path / "edit").exists()


def test_cli_outputs_share_one_mode(inverted):
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in inverted.iterdir()}
    assert len(set(modes.values())) == 1, modes


# -- model folders ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                                  "unet/config.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer.json"])
@pytest.mark.parametrize("how", ["half", "100", "empty", "other"])
def test_damaged_model_folder_names_the_file(tiny_model_dir, tmp_path, name, how):
    folder = copy(tiny_model_dir, tmp_path)
    damage(folder / name, how)
    with pytest.raises(DamagedFileError) as info:
        load_model(str(folder))
    one_line_naming(info.value, folder / name)


def test_shipped_model_checksums_catch_a_flipped_bit(inverted, tmp_path, capsys):
    from nti_edu.models.loading import EMBEDDED_DIR

    folder = copy(EMBEDDED_DIR, tmp_path)
    damage(folder / "unet" / "diffusion_pytorch_model.safetensors", "flip@-1000")  # loads, as other weights
    with pytest.raises(DamagedFileError, match="does not match its recorded SHA-256") as info:
        load_model(str(folder))
    one_line_naming(info.value, folder / "unet" / "diffusion_pytorch_model.safetensors")
    damage(folder / "checksums.json", "half")
    code, line = run(capsys, ["invert", str(inverted / "input.png"), "--prompt", PROMPT, "--model", str(folder),
                              "--out", str(tmp_path / "out")])
    assert code == 2 and "is not valid JSON" in line


# -- images ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["half", "100", "empty", "other"])
def test_damaged_image_is_refused(inverted, tiny_model_dir, tmp_path, capsys, how):
    path = tmp_path / "image.png"
    shutil.copy(inverted / "input.png", path)
    damage(path, how)
    with pytest.raises(ImageError) as info:
        open_image(path)
    one_line_naming(info.value, path)
    code, line = run(capsys, ["invert", str(path), "--prompt", PROMPT, "--model", str(tiny_model_dir),
                              "--out", str(tmp_path / "out")])
    assert code == 2 and str(path) in line and not (tmp_path / "out").exists()


def test_bit_flips_in_a_png_are_refused_or_change_no_pixel(inverted, tmp_path):
    data, path = (inverted / "input.png").read_bytes(), tmp_path / "image.png"
    pixels = np.asarray(open_image(inverted / "input.png"))
    for pos in range(len(data)):
        path.write_bytes(damaged(data, f"flip@{pos}"))
        try:
            assert np.array_equal(np.asarray(open_image(path)), pixels), pos  # e.g. in the IEND chunk, never read
        except ImageError as err:
            one_line_naming(err, path)
