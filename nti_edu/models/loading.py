"""Loading a model's components with ``from_pretrained``, from a local folder or a hub id.

The folder layout is Stable Diffusion's: ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/`` and
``scheduler/scheduler_config.json``. The embedded model ships in that layout inside the package, so it
goes through exactly the same code as Stable Diffusion.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..files import DamagedFileError, check_folder, check_json_files, check_weight_files
from ..schedule import NoiseSchedule
from .latent_diffusion import LatentDiffusion
from .sd15 import SD15_ID

EMBEDDED = "embedded"
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
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


class UnsupportedScheduleError(ValueError):
    """A scheduler config that asks for what nti_edu does not do (e.g. "trailing" timesteps); names the file."""


def _read_schedule(source: str, local: bool) -> NoiseSchedule:
    if local:
        path = Path(source) / "scheduler" / "scheduler_config.json"
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(source, "scheduler_config.json", subfolder="scheduler"))
    config = json.loads(path.read_text())
    try:
        return NoiseSchedule.from_config(config)
    except ValueError as err:  # said as it is, not as "could not load"
        raise UnsupportedScheduleError(f"{path}: {err}") from None


def _has_variant(folder: Path, variant: str) -> bool:
    return any(f".{variant}." in path.name for path in folder.glob("*"))


def _from_pretrained(cls, source: str, folder: str, variant: str | None, local: bool, **kwargs):
    """``cls.from_pretrained`` of one component: the variant's weight files (e.g. ``*.fp16.safetensors``, half
    the download) where the folder or hub repo has them, else the default ones."""
    if variant and (_has_variant(Path(source) / folder, variant) if local else True):
        try:
            return cls.from_pretrained(source, subfolder=folder, variant=variant, output_loading_info=True, **kwargs)
        except OSError:  # the hub repo has no such variant (or no network: the default load says so)
            pass
    return cls.from_pretrained(source, subfolder=folder, output_loading_info=True, **kwargs)


def text_dtype(dtype: torch.dtype | None) -> torch.dtype:
    """The text encoder's dtype for a model in ``dtype``: the same, but float32 at most (transformers 4's CLIP
    cannot run in float64) and float32 when none is asked for."""
    return torch.float32 if dtype in (None, torch.float64) else dtype


def _text_dtype_kwargs(dtype: torch.dtype | None) -> dict:
    """``from_pretrained``'s dtype keyword for the text encoder, always given: without it transformers 5 takes the
    dtype written in its config.json ("auto"; a folder saved from a float16 model would load its float32 weights
    rounded to float16), where transformers 4 takes float32. transformers < 4.56 knows only ``torch_dtype``,
    later versions warn about it."""
    import transformers
    from packaging.version import Version

    keyword = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {keyword: text_dtype(dtype)}


def load_components(source: str, variant: str | None = None, dtype: torch.dtype | None = None):
    """(unet, vae, text_encoder, tokenizer, schedule) from a local folder or a hub id; ``variant="fp16"`` reads
    the half-precision weight files where they exist. The UNet and VAE are created in ``dtype`` (diffusers
    warns about casting them afterwards, and half the memory is needed), the text encoder in ``text_dtype(dtype)``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    local = Path(source).is_dir()
    if local:
        check_files(Path(source))
    try:
        unet, vae, text_encoder = (
            _all_weights_loaded(folder, _from_pretrained(cls, source, folder, variant, local, **kwargs))
            for folder, cls, kwargs in (("unet", UNet2DConditionModel, {"torch_dtype": dtype}),
                                        ("vae", AutoencoderKL, {"torch_dtype": dtype}),
                                        ("text_encoder", CLIPTextModel, _text_dtype_kwargs(dtype))))
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
        schedule = _read_schedule(source, local)
    except (WeightsMismatchError, UnsupportedScheduleError):
        raise
    except Exception as err:  # hub, network and file errors all mean "not available here"
        if local and all((Path(source) / part).is_dir() for part in COMPONENTS):
            raise DamagedFileError(f"a file of the model folder {source!r} is damaged or unreadable: {err}") from err
        if local:
            raise ModelNotFoundError(f"the folder {source!r} is not a complete model folder "
                                     f"({', '.join(c + '/' for c in COMPONENTS)}): {err}") from err
        raise _not_found(source, err) from err
    return unet, vae, text_encoder, tokenizer, schedule


def check_files(folder: Path) -> None:
    """A DamagedFileError naming the first damaged file of a model folder: every file against checksums.json where
    there is one (the embedded model, exported ones), then every JSON file and safetensors header (from_pretrained's
    own errors seldom name the file)."""
    remedy = ("reinstall nti_edu (pip install --force-reinstall nti_edu)" if folder.resolve() == EMBEDDED_DIR
              else "copy or export the model folder again")
    check_folder(folder, remedy)
    check_json_files(folder)
    check_weight_files(folder, remedy)


def auto_dtype(device=None) -> torch.dtype:
    """The dtype a model computes in by default on ``device``: float32 on the CPU (and anything but CUDA);
    on CUDA, bfloat16 from compute capability 8.0 (Ampere and later: A100, L4, H100), float16 before (Colab's free
    T4 is 7.5). ``torch.cuda.is_bf16_supported()`` is not the test: it is True on a T4, where bfloat16 is emulated."""
    device = torch.device(device if device is not None else "cpu")
    if device.type != "cuda":
        return torch.float32
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def resolve_dtype(dtype, device=None) -> torch.dtype:
    """``"auto"`` as ``auto_dtype(device)``; a floating torch.dtype as it is; anything else a ValueError."""
    if isinstance(dtype, str) and dtype == "auto":
        return auto_dtype(device)
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    raise ValueError(f"dtype must be 'auto' or a floating torch dtype (torch.float32, torch.float16, "
                     f"torch.bfloat16, torch.float64), got {dtype!r}")


def load_model(source: str = EMBEDDED, device=None, dtype="auto") -> LatentDiffusion:
    """Load ``"embedded"`` (the default, offline), a hub id such as ``SD15_ID``, or a local folder.

    ``dtype="auto"`` (the default) picks by device (``auto_dtype``): float32 on the CPU, as diffusers does,
    float16 on a T4-class GPU, bfloat16 on Ampere and later; pass a torch dtype to choose. Half-precision loads
    read the ``fp16`` weight variant where the model has one (SD 1.5: about 2 GB instead of 4).
    """
    if not isinstance(source, str) or not source:
        raise ValueError(f"model must be 'embedded', a hub id or a folder path, got {source!r}")
    dtype = resolve_dtype(dtype, device)
    path = str(model_folder(source))
    variant = "fp16" if dtype in (torch.float16, torch.bfloat16) else None
    unet, vae, text_encoder, tokenizer, schedule = load_components(path, variant=variant, dtype=dtype)
    model = LatentDiffusion(unet, vae, text_encoder, tokenizer, schedule, name=_model_name(source, path))
    return model.to(device=device, dtype=dtype)


def _model_name(source: str, path: str) -> str:
    if source == EMBEDDED:
        index = Path(path) / "model_index.json"
        version = json.loads(index.read_text()).get("nti_edu_version", "") if index.exists() else ""
        return f"embedded{'@' + version if version else ''}"
    return source


def model_folder(source: str) -> Path:
    """Where a model source's files are: the embedded model's folder for ``"embedded"``, else ``source`` itself
    (a local folder, or a hub id that from_pretrained resolves)."""
    return embedded_dir() if source == EMBEDDED else Path(source)


def training_record(source: str) -> dict:
    """What ``python -m nti_edu.train``'s export wrote in a model folder's model_index.json ("training"); {} for a
    model it did not export (a Stable Diffusion folder, a hub id)."""
    index = model_folder(source) / "model_index.json"
    return json.loads(index.read_text()).get("training", {}) if index.is_file() else {}


def embedded_dir() -> Path:
    """The embedded model's folder inside the package; a clear error if it has not been trained."""
    if not (EMBEDDED_DIR / "unet").is_dir():
        raise ModelNotFoundError(f"the embedded model is missing from {EMBEDDED_DIR}; "
                                 "train it with `python -m nti_edu.train` (see README)")
    return EMBEDDED_DIR
