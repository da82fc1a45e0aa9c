"""The notebooks' one switch: which model, which images, which edits (no network, no Stable Diffusion download)."""
import numpy as np
import pytest
import torch
from PIL import Image

from nti_edu import lecture
from nti_edu.models.loading import EMBEDDED, SD15_ID
from nti_edu.world import heldout_seeds, make_example, parse_prompt


class FakeModel:
    image_size = 32
    device = torch.device("cpu")


@pytest.fixture
def no_override(monkeypatch):
    monkeypatch.delenv(lecture.ENV_MODEL, raising=False)


def test_model_source_follows_the_switch_unless_overridden(no_override, monkeypatch):
    assert lecture.model_source("embedded") == EMBEDDED
    assert lecture.model_source("sd15") == SD15_ID
    with pytest.raises(ValueError, match=r"MODEL must be one of \['embedded', 'sd15'\], got 'sd'"):
        lecture.model_source("sd")
    monkeypatch.setenv(lecture.ENV_MODEL, "/some/folder")
    assert lecture.model_source("sd15") == "/some/folder"
    assert not lecture.uses_world("sd15") and lecture.uses_world("embedded")  # the images follow the switch


def test_dtype_follows_the_device_unless_overridden(monkeypatch, tiny_model_dir, capsys):
    """NTI_EDU_DTYPE picks the dtype lecture.load uses (the GPU session runs the notebooks in float16 and bfloat16);
    unset, the device decides (auto_dtype); a wrong name is refused with the choices."""
    monkeypatch.delenv(lecture.ENV_DTYPE, raising=False)
    assert lecture.model_dtype() == "auto"
    monkeypatch.setenv(lecture.ENV_DTYPE, "bfloat16")
    monkeypatch.setenv(lecture.ENV_MODEL, str(tiny_model_dir))
    model = lecture.load("sd15")
    assert model.dtype == torch.bfloat16 and "on cpu in bfloat16; images 32x32" in capsys.readouterr().out
    monkeypatch.setenv(lecture.ENV_DTYPE, "half")
    with pytest.raises(ValueError, match="NTI_EDU_DTYPE must be one of auto, float32, float16, bfloat16, got 'half'"):
        lecture.model_dtype()


def test_world_examples_are_held_out_filtered_and_resized():
    images, prompts, scenes = lecture.world_examples(3, 32, where=lambda s: s.kind == "face")
    assert images.shape == (3, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert all(s.kind == "face" for s in scenes) and [s.prompt() for s in scenes] == prompts
    full, full_prompts, _ = lecture.world_examples(2, 64)
    first = make_example(heldout_seeds(1)[0])
    assert torch.equal(full[0], first.image) and full_prompts[0] == first.prompt
    with pytest.raises(ValueError, match="found only 0"):
        lecture.world_examples(1, 64, where=lambda s: False)


def test_examples_pick_scenes_an_edit_applies_to(no_override):
    images, prompts = lecture.examples("embedded", FakeModel, n=2, edit="add sunglasses")
    assert images.shape == (2, 3, 32, 32)
    assert all(parse_prompt(p).kind == "face" and not parse_prompt(p).sunglasses for p in prompts)
    targets = lecture.edit_targets("embedded", prompts, "add sunglasses")
    assert all(parse_prompt(t).sunglasses for t in targets)
    swapped = lecture.edit_targets("embedded", ["a small red circle at the center on a blue background"], "colour swap")
    assert parse_prompt(swapped[0]).colour not in ("red", "blue") and parse_prompt(swapped[0]).shape == "circle"


def write_png(path, colour):
    Image.fromarray(np.full((40, 60, 3), colour, dtype=np.uint8)).save(path)
    return str(path)


def test_user_images_for_stable_diffusion(no_override, tmp_path):
    entries = [(write_png(tmp_path / "a.png", 255), "a white wall", "a black wall"),
               (write_png(tmp_path / "b.png", 0), "a black wall", "a white wall")]
    images, prompts = lecture.examples("sd15", FakeModel, n=1, user_images=entries)
    assert images.shape == (1, 3, 32, 32) and torch.allclose(images, torch.ones_like(images))
    assert prompts == ["a white wall"]
    assert lecture.edit_targets("sd15", ["a white wall", "a black wall"], "colour swap", entries) == ["a black wall",
                                                                                                   "a white wall"]
    with pytest.raises(ValueError, match="an edited prompt"):
        lecture.edit_targets("sd15", ["a white wall"], "colour swap", [entries[0][:2]])
    with pytest.raises(ValueError, match="give your images"):
        lecture.examples("sd15", FakeModel, user_images=[])
    assert lecture.evaluator("sd15") is None


def test_fetch_keeps_paths_and_caches_urls(tmp_path, monkeypatch):
    assert lecture.fetch("pictures/cat.jpg") == lecture.Path("pictures/cat.jpg")
    monkeypatch.setattr(lecture, "IMAGE_CACHE", tmp_path)
    url = "https://example.org/images/cat.jpeg?size=large"
    cached = tmp_path / f"{lecture.hashlib.sha256(url.encode()).hexdigest()[:12]}-cat.jpeg"
    cached.write_bytes(b"already here")  # a cached download is not fetched again (no network in tests)
    assert lecture.fetch(url) == cached


def test_kept_words(no_override):
    prompt = "a medium orange moon at the top left on a pink background"
    assert lecture.kept_words("embedded", prompt) == ["moon"]
    assert lecture.kept_words("sd15", "a cat sitting next to a mirror", ["mirror"]) == ["mirror"]
    with pytest.raises(ValueError, match="not in it: dog"):
        lecture.kept_words("sd15", "a cat sitting next to a mirror", ["dog"])
    with pytest.raises(ValueError, match="give MY_KEEP_WORDS"):
        lecture.kept_words("sd15", "a cat sitting next to a mirror")
