"""Loading a model's components with ``from_pretrained``, from a local folder or a hub id.

The folder layout is Stable Diffusion's: ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/`` and
``scheduler/scheduler_config.json``. The embedded model ships in that layout inside the package, so it
goes through exactly the same code as Stable Diffusion.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..schedule import NoiseSchedule
from .latent_diffusion import LatentDiffusion
from .sd15 import SD15_ID

EMBEDDED = "embedded"
EMBEDDED_DIR = Path(__file__).resolve().parent.parent / "assets" / "embedded"


class ModelNotFoundError(OSError):
    """A model that is neither a local folder nor downloadable; the message says how to get it."""


class WeightsMismatchError(ValueError):
    """A model folder whose weight files lack some of the module's weights (they would load as random values)."""


def _all_weights_loaded(name: str, loaded) -> object:
    """The module of ``from_pretrained(..., output_loading_info=True)``; a WeightsMismatchError if any was missing.

    ``from_pretrained`` fills weights it cannot find with random values and only warns, so a folder saved
    in a layout this transformers or diffusers cannot read would otherwise load as a random model.
    """
    module, info = loaded
    missing = list(info.get("missing_keys") or [])
    if missing:
        raise WeightsMismatchError(f"the {name}'s weights do not match this library version's {type(module).__name__}: "
                         f"{len(missing)} weights were not found in the files (e.g. {missing[0]!r}), so they would be "
                         "random; the folder was probably saved by another transformers or diffusers version")
    return module


def _not_found(source: str, err: Exception) -> ModelNotFoundError:
    reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return ModelNotFoundError(
        f"could not load the model {source!r}: it is not a local folder and could not be fetched from the "
        f"Hugging Face hub ({reason}). With network (e.g. on Colab) the first load downloads it; offline, run "
        f"`huggingface-cli download {source} --local-dir DIR` on a machine with network, copy DIR here and pass "
        f"its path, or use the embedded model: load_model('embedded').")


def _read_schedule(source: str, local: bool) -> NoiseSchedule:
    if local:
        return NoiseSchedule.from_file(Path(source) / "scheduler" / "scheduler_config.json")
    from huggingface_hub import hf_hub_download

    return NoiseSchedule.from_file(hf_hub_download(source, "scheduler_config.json", subfolder="scheduler"))


def load_components(source: str):
    """(unet, vae, text_encoder, tokenizer, schedule) from a local folder or a hub id."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    local = Path(source).is_dir()
    try:
        unet, vae, text_encoder = (
            _all_weights_loaded(folder, cls.from_pretrained(source, subfolder=folder, output_loading_info=True))
            for folder, cls in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL), ("text_encoder", CLIPTextModel)))
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
        schedule = _read_schedule(source, local)
    except WeightsMismatchError:
        raise
    except Exception as err:  # hub, network and file errors all mean "not available here"
        if local:
            raise ModelNotFoundError(f"the folder {source!r} is not a complete model folder "
                                     f"(unet/, vae/, text_encoder/, tokenizer/, scheduler/): {err}") from err
        raise _not_found(source, err) from err
    return unet, vae, text_encoder, tokenizer, schedule


def load_model(source: str = EMBEDDED, device=None, dtype: torch.dtype = torch.float32) -> LatentDiffusion:
    """Load ``"embedded"`` (the default, offline), a hub id such as ``SD15_ID``, or a local folder.

    float32 is the default (as on CPU in diffusers); pass ``dtype=torch.float16`` on a GPU for SD.
    """
    if not isinstance(source, str) or not source:
        raise ValueError(f"model must be 'embedded', a hub id or a folder path, got {source!r}")
    path = str(embedded_dir()) if source == EMBEDDED else source
    unet, vae, text_encoder, tokenizer, schedule = load_components(path)
    model = LatentDiffusion(unet, vae, text_encoder, tokenizer, schedule, name=_model_name(source, path))
    return model.to(device=device, dtype=dtype)


def _model_name(source: str, path: str) -> str:
    if source == EMBEDDED:
        index = Path(path) / "model_index.json"
        version = json.loads(index.read_text()).get("nti_edu_version", "") if index.exists() else ""
        return f"embedded{'@' + version if version else ''}"
    return source


def embedded_dir() -> Path:
    """The embedded model's folder inside the package; a clear error if it has not been trained."""
    if not (EMBEDDED_DIR / "unet").is_dir():
        raise ModelNotFoundError(f"the embedded model is missing from {EMBEDDED_DIR}; "
                                 "train it with `python -m nti_edu.train` (see README)")
    return EMBEDDED_DIR
