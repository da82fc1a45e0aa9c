"""Bad input to ``nti-edu``: one line on stderr (``nti-edu: error: ...``), exit status 2 (1 for a
diverged optimisation, 130 for Ctrl-C), and nothing half-written. Images that can be converted are
converted, with a note, by the rule in ``nti_edu.images``."""
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import nti_edu.null_text
from nti_edu.cli import main
from nti_edu.cli.outputs import STAGING_PREFIX
from nti_edu.images import pil_to_tensor, square_resize
from nti_edu.world.tokenizer import save_tokenizer

PROMPT = "a red circle"


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("img") / "noise.png"
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def world_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny components with the embedded model's word-level tokenizer (16 tokens at most)."""
    folder = tmp_path_factory.mktemp("world_sd") / "model"
    shutil.copytree(tiny_model_dir, folder)
    shutil.rmtree(folder / "tokenizer")
    save_tokenizer(folder / "tokenizer")
    return folder


def run(capsys, argv) -> tuple[int, str]:
    """Run nti-edu; return (exit status, the one error line), checking that there is exactly one."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("nti-edu: error:")
             or line.startswith("nti-edu: interrupted:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and err.rstrip().splitlines()[-1] == lines[0]
    return code, lines[0]


def invert_args(model_dir, image, out, *extra) -> list[str]:
    return ["invert", str(image), "--prompt", PROMPT, "--model", str(model_dir), "--method", "ddim",
            "--steps", "2", "--out", str(out), "-q", *extra]


def assert_nothing_written(folder):
    assert not folder.exists() or not any(folder.iterdir()), sorted(folder.iterdir())


# -- image files --------------------------------------------------------------------------------

def test_not_an_image(tiny_model_dir, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("these are notes, not pixels\n")
    code, line = run(capsys, invert_args(tiny_model_dir, bad, tmp_path / "out"))
    assert code == 2 and "is not an image file" in line and "notes.png" in line
    assert_nothing_written(tmp_path / "out")


def test_truncated_image(tiny_model_dir, image_file, tmp_path, capsys):
    cut = tmp_path / "cut.png"
    data = image_file.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    code, line = run(capsys, invert_args(tiny_model_dir, cut, tmp_path / "out"))
    assert code == 2 and "could not be decoded" in line
    assert_nothing_written(tmp_path / "out")


def test_missing_image(tiny_model_dir, tmp_path, capsys):
    code, line = run(capsys, invert_args(tiny_model_dir, tmp_path / "nowhere.png", tmp_path / "out"))
    assert code == 2 and "no such image file" in line


def test_too_small_image(tiny_model_dir, tmp_path, capsys):
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 10), "red").save(small)
    code, line = run(capsys, invert_args(tiny_model_dir, small, tmp_path / "out"))
    assert code == 2 and "40x10" in line and "at least 16" in line
    assert_nothing_written(tmp_path / "out")


def _gray16():
    arr = np.full((32, 32), 65535, np.uint16)
    arr[:, :16] = 32768
    return Image.fromarray(arr), lambda rgb: (rgb[:, :16] == 128).all() and (rgb[:, 16:] == 255).all()


def _rgba():
    arr = np.zeros((32, 32, 4), np.uint8)
    arr[:, :16] = (220, 30, 30, 255)  # opaque red; the right half is transparent black
    return Image.fromarray(arr, "RGBA"), lambda rgb: (rgb[:, :16] == (220, 30, 30)).all() and (rgb[:, 16:] == 255).all()


def _gray():
    arr = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))
    return Image.fromarray(arr, "L"), lambda rgb: (rgb == arr[..., None]).all()


def _palette():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:16] = (40, 165, 60)
    rgb[16:] = (245, 220, 30)
    img = Image.fromarray(rgb).quantize(colors=4)
    return img, lambda out: (out == rgb).all()


@pytest.mark.parametrize("make", [_gray16, _rgba, _gray, _palette], ids=["16-bit", "RGBA", "grayscale", "palette"])
def test_other_modes_are_converted(tiny_model_dir, tmp_path, capsys, make):
    img, expected = make()
    path = tmp_path / f"in_{img.mode.replace(';', '')}.png"
    img.save(path)
    assert Image.open(path).mode == img.mode
    out = tmp_path / "out"
    assert main(invert_args(tiny_model_dir, path, out)) == 0
    assert f"converted from mode {img.mode!r}" in capsys.readouterr().err
    assert expected(np.asarray(Image.open(out / "input.png")))


def test_large_image_is_cropped_and_resized(tiny_model_dir, tmp_path, capsys):
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (900, 1600, 3), dtype=np.uint8))
    path = tmp_path / "wide.png"
    img.save(path)
    assert main(invert_args(tiny_model_dir, path, tmp_path / "out")) == 0
    err = capsys.readouterr().err
    assert "1600x900 pixels; cropped the centred 900x900 square, resized to the model's 32x32" in err
    used = pil_to_tensor(Image.open(tmp_path / "out" / "input.png"))
    assert torch.equal(used, pil_to_tensor(square_resize(img, 32)))


# -- prompts, steps, guidance ---------------------------------------------------------------------

def test_word_outside_the_vocabulary(world_model_dir, image_file, tmp_path, capsys):
    argv = invert_args(world_model_dir, image_file, tmp_path / "out")
    argv[argv.index(PROMPT)] = "a red circel"
    code, line = run(capsys, argv)
    assert code == 2 and "'circel' is not in this model's vocabulary" in line and "Did you mean 'circle'?" in line
    assert "Allowed words: a, and, at, background," in line  # the whole list, on the same line
    assert_nothing_written(tmp_path / "out")


def test_prompt_too_long(world_model_dir, image_file, tmp_path, capsys):
    argv = invert_args(world_model_dir, image_file, tmp_path / "out")
    argv[argv.index(PROMPT)] = "a small red circle at the top left on a blue background and a red hat"  # 16 words
    code, line = run(capsys, argv)
    assert code == 2 and "has 18 tokens" in line and "allows at most 16" in line


@pytest.mark.parametrize("method, steps, message", [
    ("ddim", "0", "num_steps must be an integer from 1 to 999"), ("ddim", "-3", "num_steps must be an integer from 1"),
    ("null-text", "0", "so num_steps must be an integer from 1 to 100 (at most 100 steps), got 0 (see `nti-edu"),
    ("ddim", "ten", "--steps: expected a whole number"), ("ddim", "2.5", "--steps: expected a whole number"),
])
def test_bad_step_counts_are_usage_errors(tiny_model_dir, image_file, tmp_path, capsys, method, steps, message):
    """Parsed by the command line, checked once by the library (the method's own check, or NullTextConfig)."""
    argv = invert_args(tiny_model_dir, image_file, tmp_path / "out")
    argv[argv.index("--steps") + 1], argv[argv.index("--method") + 1] = steps, method
    code, line = run(capsys, argv)
    assert code == 2 and message in line
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize("method, steps, message", [
    ("ddim", "1000", "at most 999 DDIM steps"), ("null-text", "101", "at most 100 steps"),
])
def test_steps_beyond_the_schedule(tiny_model_dir, image_file, tmp_path, capsys, method, steps, message):
    argv = invert_args(tiny_model_dir, image_file, tmp_path / "out")
    argv[argv.index("--steps") + 1], argv[argv.index("--method") + 1] = steps, method
    code, line = run(capsys, argv)
    assert code == 2 and message in line
    assert_nothing_written(tmp_path / "out")


def test_fast_is_for_null_text_only(tiny_model_dir, image_file, tmp_path, capsys):
    code, line = run(capsys, ["invert", str(image_file), "--prompt", "a red circle", "--model", str(tiny_model_dir),
                              "--method", "ddim", "--fast", "--out", str(tmp_path / "o")])
    assert code == 2 and "--fast is for --method null-text" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("w", ["-1", "nan", "inf", "-inf"])
def test_bad_guidance(tiny_model_dir, image_file, tmp_path, capsys, w):
    for method in ("ddim", "null-text"):  # checked by the method, or by NullTextConfig before the model loads
        argv = invert_args(tiny_model_dir, image_file, tmp_path / "out", f"--guidance={w}")
        argv[argv.index("--method") + 1] = method
        code, line = run(capsys, argv)
        assert code == 2 and "guidance weight w must be a finite number >= 0" in line
        assert_nothing_written(tmp_path / "out")


def test_guidance_that_is_no_number(tiny_model_dir, image_file, tmp_path, capsys):
    code, line = run(capsys, invert_args(tiny_model_dir, image_file, tmp_path / "out", "--guidance=lots"))
    assert code == 2 and "--guidance: expected a number, got 'lots'" in line


def test_bad_sweep_lists(tiny_model_dir, image_file, tmp_path, capsys):
    base = ["sweep", str(image_file), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--out", str(tmp_path)]
    code, line = run(capsys, base + ["--steps", "2,0"])
    assert code == 2 and "must be >= 1" in line
    code, line = run(capsys, base + ["--guidance", "1,nan"])
    assert code == 2 and "finite number" in line


# -- edits ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inverted(tiny_model_dir, image_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("inv") / "nti"
    assert main(["invert", str(image_file), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--steps", "3",
                 "--inner-steps", "1", "--out", str(out), "-q"]) == 0
    return out


def test_word_swap_needs_equal_word_counts(tiny_model_dir, inverted, tmp_path, capsys):
    code, line = run(capsys, ["edit", str(inverted), "--prompt", "a big blue circle", "--mode", "swap",
                              "--model", str(tiny_model_dir), "--out", str(tmp_path / "e")])
    assert code == 2 and "same number of words" in line and "--mode refine" in line
    assert not (tmp_path / "e").exists()


def test_edit_refuses_another_models_inversion(tiny_model_dir, inverted, tmp_path, capsys):
    other = tmp_path / "other_model"
    shutil.copytree(tiny_model_dir, other)
    code, line = run(capsys, ["edit", str(inverted), "--prompt", "a blue circle", "--model", str(other),
                              "--out", str(tmp_path / "e")])
    assert code == 2 and "this inversion was made with the model" in line and f"--model {tiny_model_dir}" in line
    assert not (tmp_path / "e").exists()


def test_edit_options_that_do_not_fit(tiny_model_dir, inverted, tmp_path, capsys):
    base = ["edit", str(inverted), "--model", str(tiny_model_dir), "--out", str(tmp_path / "e")]
    cases = [(["--prompt", "a blue circle", "--blend", "green"], "not found: green"),
             (["--prompt", "a blue circle", "--blend", "circle", "--blend-subtract", "square"],
              "--blend-subtract words must be in"),
             (["--prompt", "a blue circle", "--blend-subtract", "red"], "give the blend's words with --blend"),
             (["--prompt", "a blue circle", "--mode", "plain", "--reweight", "blue=2"], "need attention control"),
             (["--prompt", "a blue circle", "--mode", "plain", "--paste-back", "circle"], "need attention control"),
             (["--prompt", "a blue circle", "--paste-back", "green"], "--paste-back words must all be in"),
             (["--prompt", "a blue circle", "--paste-back", "blue"], "Add --paste-back-outside"),
             (["--prompt", "a blue circle", "--paste-back-outside"], "give those words with --paste-back"),
             (["--prompt", "a blue circle", "--target-null", "zero"], "invalid choice"),
             (["--mode", "reweight"], "needs --reweight WORD=SCALE"),
             (["--prompt", "a blue circle", "--reweight", "blue"], "expected WORD=SCALE"),
             (["--prompt", "a blue circle", "--cross-replace", "1.5"], "between 0 and 1"),
             (["--mode", "swap"], "--prompt is required")]
    for extra, message in cases:
        code, line = run(capsys, base + extra)
        assert code == 2 and message in line, (extra, line)
    code, line = run(capsys, ["edit", str(tmp_path / "nothing"), "--prompt", "x", "--out", str(tmp_path / "e")])
    assert code == 2 and "holds no saved inversion" in line
    assert not (tmp_path / "e").exists()


# -- output folders, interrupts, divergence ----------------------------------------------------

def test_output_folder_under_a_file(tiny_model_dir, image_file, tmp_path, capsys):
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file, not a folder\n")
    code, line = run(capsys, invert_args(tiny_model_dir, image_file, blocker / "run1"))
    assert code == 2 and f"{blocker} is a file, not a folder" in line
    assert blocker.read_text() == "a file, not a folder\n"


def test_ctrl_c_leaves_no_partial_files(tiny_model_dir, image_file, tmp_path, capsys, monkeypatch):
    import nti_edu.cli.invert as invert_command

    real_save_png = invert_command.save_png

    def save_then_interrupt(image, path):  # the second image is cut short by Ctrl-C
        if path.name == "reconstruction.png":
            path.write_bytes(b"\x89PNG half")
            raise KeyboardInterrupt
        return real_save_png(image, path)

    monkeypatch.setattr(invert_command, "save_png", save_then_interrupt)
    fresh = tmp_path / "fresh"
    code, line = run(capsys, invert_args(tiny_model_dir, image_file, fresh))
    assert code == 130 and "nothing was left half-written" in line
    assert not fresh.exists()  # the command made the folder, so it removes it
    earlier = tmp_path / "earlier"  # an earlier complete run stays as it was
    monkeypatch.setattr(invert_command, "save_png", real_save_png)
    assert main(invert_args(tiny_model_dir, image_file, earlier)) == 0
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    monkeypatch.setattr(invert_command, "save_png", save_then_interrupt)
    code, _ = run(capsys, invert_args(tiny_model_dir, image_file, earlier, "--guidance", "3"))
    assert code == 130
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before


def test_ctrl_c_during_the_work(tiny_model_dir, image_file, tmp_path, capsys, monkeypatch):
    import nti_edu.reconstruction

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(nti_edu.reconstruction, "reconstruct", interrupted)
    out = tmp_path / "out"
    code, _ = run(capsys, invert_args(tiny_model_dir, image_file, out))
    assert code == 130 and not out.exists()
    assert not list(tmp_path.glob(f"**/{STAGING_PREFIX}*"))


def test_nan_in_null_text_names_the_step(tiny_model_dir, image_file, tmp_path, capsys, monkeypatch):
    real_loss, calls = nti_edu.null_text.pivotal_loss, []

    def loss_turning_nan(*args, **kwargs):  # the 4th Adam iteration (step 1, inner iteration 1) sees NaN
        calls.append(1)
        loss = real_loss(*args, **kwargs)
        return loss * math.nan if len(calls) == 4 else loss

    monkeypatch.setattr(nti_edu.null_text, "pivotal_loss", loss_turning_nan)
    out = tmp_path / "out"
    argv = invert_args(tiny_model_dir, image_file, out)
    argv[argv.index("--method") + 1] = "null-text"
    argv[argv.index("--steps") + 1] = "3"
    code, line = run(capsys, argv + ["--inner-steps", "3"])
    assert code == 1 and "diverged at step 1" in line and "NaN or inf" in line
    assert not out.exists()


def test_missing_model_folder_and_cuda(tiny_model_dir, image_file, tmp_path, capsys):
    code, line = run(capsys, invert_args(tmp_path / "no_model", image_file, tmp_path / "out"))
    assert code == 2 and "no_model: no such model folder" in line
    incomplete = tmp_path / "incomplete"
    shutil.copytree(tiny_model_dir, incomplete, ignore=shutil.ignore_patterns("unet"))
    code, line = run(capsys, invert_args(incomplete, image_file, tmp_path / "out"))
    assert code == 2 and "is not a complete model folder" in line
    if not torch.cuda.is_available():
        code, line = run(capsys, invert_args(tiny_model_dir, image_file, tmp_path / "out", "--device", "cuda"))
        assert code == 2 and "no CUDA device" in line
    assert_nothing_written(tmp_path / "out")
