"""A scheduler config's ``timestep_spacing``: "leading" (Stable Diffusion 1.x, diffusers' DDIMScheduler default) is
what nti_edu implements; "trailing" and "linspace" are refused with a clear error instead of silently getting
the leading timesteps (issue 29)."""
import json
import shutil

import pytest
import torch
from diffusers import DDIMScheduler

from nti_edu.models import load_model
from nti_edu.schedule import NoiseSchedule

SD = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000,
      "set_alpha_to_one": False, "steps_offset": 1, "clip_sample": False}


@pytest.mark.parametrize("spacing", ["leading", None])
def test_leading_spacing_matches_diffusers(spacing):
    config = SD | ({"timestep_spacing": spacing} if spacing else {})
    ref = DDIMScheduler(**config)
    for n in (10, 50):
        ref.set_timesteps(n)
        assert torch.equal(NoiseSchedule.from_config(config).timesteps(n), ref.timesteps)


@pytest.mark.parametrize("spacing", ["trailing", "linspace"])
def test_other_spacings_are_refused(spacing):
    ref = DDIMScheduler(**SD, timestep_spacing=spacing)
    ref.set_timesteps(50)
    assert not torch.equal(NoiseSchedule.create().timesteps(50), ref.timesteps)  # what it would silently get wrong
    with pytest.raises(ValueError, match=f"timestep_spacing '{spacing}' is not supported.*leading"):
        NoiseSchedule.from_config(SD | {"timestep_spacing": spacing})


def test_a_model_folder_with_trailing_spacing_is_refused_naming_its_config(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    path = folder / "scheduler" / "scheduler_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"timestep_spacing": "trailing"}))
    with pytest.raises(ValueError, match=f"{path}: .*timestep_spacing 'trailing' is not supported"):
        load_model(str(folder))
