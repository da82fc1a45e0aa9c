"""Bad arguments raise a ValueError that says what is allowed."""
import math

import pytest
import torch

from nti_edu.ddim import check_eta, ddim_step
from nti_edu.guidance import check_guidance
from nti_edu.inversion import ddim_invert, invert
from nti_edu.models import ModelNotFoundError, load_model
from nti_edu.sampling import ddim_sample
from nti_edu.schedule import NoiseSchedule


@pytest.mark.parametrize("steps", [0, -3, 1000, 5000, 2.5, "10", True])
def test_bad_step_counts(steps):
    with pytest.raises(ValueError, match="num_steps must be an integer from 1 to 999"):
        NoiseSchedule.create().timesteps(steps)


@pytest.mark.parametrize("w", [-0.5, math.nan, math.inf, "7.5", None])
def test_bad_guidance(w):
    with pytest.raises(ValueError, match="finite number >= 0"):
        check_guidance(w)


def test_bad_guidance_and_steps_reach_the_user(tiny_model):
    x = torch.zeros(1, *tiny_model.latent_shape)
    emb = tiny_model.encode_prompt("a cat")
    with pytest.raises(ValueError, match="guidance weight"):
        next(ddim_sample(tiny_model, x, emb, num_steps=10, w=-1.0))
    with pytest.raises(ValueError, match="num_steps"):
        ddim_invert(tiny_model, x, emb, num_steps=0)


def test_wrong_image_shape(tiny_model):
    with pytest.raises(ValueError, match=r"shape \(B, 3, 32, 32\)"):
        invert(tiny_model, torch.rand(1, 3, 40, 40), "a cat", num_steps=5)
    with pytest.raises(ValueError, match=r"shape \(B, 3, 32, 32\)"):
        tiny_model.image_to_latent(torch.rand(3, 32, 32))


def test_wrong_latent_shape_and_prompt_count(tiny_model):
    emb = tiny_model.encode_prompt(["a", "b"])
    with pytest.raises(ValueError, match=r"latents must have shape \(B, 4, 16, 16\)"):
        next(ddim_sample(tiny_model, torch.zeros(2, 4, 8, 8), emb, num_steps=5))
    with pytest.raises(ValueError, match="one prompt per latent"):
        next(ddim_sample(tiny_model, torch.zeros(1, 4, 16, 16), emb, num_steps=5))
    with pytest.raises(ValueError, match="one prompt per image"):
        invert(tiny_model, torch.rand(1, 3, 32, 32), ["a", "b"], num_steps=5)


def test_eta_needs_noise_and_must_be_nonnegative():
    x = torch.zeros(1, 4, 2, 2)
    with pytest.raises(ValueError, match="needs `noise`"):
        ddim_step(x, x, torch.tensor(0.5), torch.tensor(0.9), eta=1.0)
    for eta in (-1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
            check_eta(eta)


def test_prompt_errors(tiny_model):
    with pytest.raises(ValueError, match="allows at most 77"):
        tiny_model.encode_prompt("word " * 100)
    with pytest.raises(ValueError, match="string or a non-empty list"):
        tiny_model.encode_prompt([])


def test_missing_model_names_the_id_and_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as err:
        load_model("no-such-org/no-such-model")
    message = str(err.value)
    assert "no-such-org/no-such-model" in message and "huggingface-cli download" in message
    assert "\n" not in message


def test_weights_missing_from_a_folder_are_an_error_not_random_values(tiny_model_dir, tmp_path):
    """from_pretrained fills weights it cannot find with random values and only warns; the loader refuses."""
    import shutil

    from safetensors.torch import load_file, save_file

    from nti_edu.models.loading import WeightsMismatchError

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    weights = next((folder / "text_encoder").glob("*.safetensors"))
    state = load_file(weights)
    dropped = sorted(state)[0]
    save_file({k: v for k, v in state.items() if k != dropped}, weights, metadata={"format": "pt"})
    with pytest.raises(WeightsMismatchError, match="the text_encoder's weights") as err:
        load_model(str(folder))
    assert "1 weights were not found" in str(err.value)


def test_incomplete_local_folder(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(ModelNotFoundError, match="not a complete model folder"):
        load_model(str(tmp_path))
