"""load_model's dtype: "auto" by device (CUDA capability mocked, no GPU needed), and the fp16 weight variant read
for half-precision loads where a model folder has it (the default weights otherwise)."""
import json
import shutil

import pytest
import torch

from nti_edu.models import loading
from nti_edu.models.latent_diffusion import LatentDiffusion
from nti_edu.models.loading import auto_dtype, load_model, resolve_dtype
from nti_edu.models.portable import write_portable_text_encoder
from nti_edu.testing import save_random_sd

COMPONENTS = ("unet", "vae", "text_encoder")


@pytest.fixture
def gpu(monkeypatch):
    """Pretend a CUDA GPU of the given compute capability; bfloat16 "supported" everywhere, as torch says on a T4."""
    def set_capability(major: int, minor: int):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    return set_capability


@pytest.mark.parametrize("capability, name, expected", [
    ((6, 1), "P100/GTX 10x0", torch.float16), ((7, 0), "V100", torch.float16), ((7, 5), "T4 (Colab)", torch.float16),
    ((8, 0), "A100", torch.bfloat16), ((8, 9), "L4", torch.bfloat16), ((9, 0), "H100", torch.bfloat16)])
def test_auto_dtype_on_cuda(gpu, capability, name, expected):
    gpu(*capability)
    assert auto_dtype("cuda") == auto_dtype(torch.device("cuda", 0)) == resolve_dtype("auto", "cuda:0") == expected


@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu"), "mps"])
def test_auto_dtype_off_cuda_is_float32(gpu, device):
    gpu(9, 0)  # a GPU present changes nothing for a model kept off it
    assert auto_dtype(device) == resolve_dtype("auto", device) == torch.float32


@pytest.mark.parametrize("bad", ["float16", "fp16", torch.int64, None, 16])
def test_resolve_dtype_refuses(bad):
    with pytest.raises(ValueError, match="dtype must be 'auto' or a floating torch dtype"):
        resolve_dtype(bad)
    assert resolve_dtype(torch.float64) == torch.float64


def first_weight(module) -> torch.Tensor:
    return next(module.parameters()).detach().float().cpu()


@pytest.fixture(scope="module")
def with_variant(tmp_path_factory):
    """A tiny SD folder (seed 0) holding fp16 weight variants too, taken from a seed-1 model so that the two
    differ: which files were read shows in the loaded weights.
    Returns (that folder, the seed-0 folder without variants, its model, the seed-1 model in float16)."""
    base = tmp_path_factory.mktemp("variants")
    default, other = save_random_sd(base / "default", seed=0), save_random_sd(base / "other", seed=1)
    folder = shutil.copytree(default, base / "both")
    ref_default, ref_other = load_model(str(default)), load_model(str(other))
    for name in COMPONENTS:
        tmp = base / f"fp16-{name}"
        getattr(ref_other, name).to(torch.float16).save_pretrained(tmp, variant="fp16")
        if name == "text_encoder":
            write_portable_text_encoder(tmp)
        for weights in tmp.glob("*.fp16.*"):  # only the weight files: the folder's config.json stays SD's
            shutil.copy(weights, folder / name / weights.name)
    return folder, default, ref_default, load_model(str(other), dtype=torch.float16)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_reads_the_fp16_variant(with_variant, dtype):
    folder, _, _, ref_fp16 = with_variant
    model = load_model(str(folder), dtype=dtype)
    for name in COMPONENTS:
        assert torch.equal(first_weight(getattr(model, name)), first_weight(getattr(ref_fp16, name)).to(dtype).float())
    assert model.unet.dtype == dtype


def test_float32_reads_the_default_weights(with_variant):
    folder, _, ref_default, _ = with_variant
    model = load_model(str(folder), dtype=torch.float32)
    for name in COMPONENTS:
        assert torch.equal(first_weight(getattr(model, name)), first_weight(getattr(ref_default, name)))


def test_half_precision_falls_back_without_variant(with_variant):
    _, default, ref_default, _ = with_variant
    assert not list(default.glob("*/*.fp16.*"))
    model = load_model(str(default), dtype=torch.float16)
    for name in COMPONENTS:
        assert torch.equal(first_weight(getattr(model, name)), first_weight(getattr(ref_default, name)).half().float())


def test_load_model_auto_on_a_t4(with_variant, gpu, monkeypatch):
    """On a (mocked) T4, the default dtype "auto" loads the fp16 variant and asks for float16 on the GPU."""
    folder, _, _, ref_fp16 = with_variant
    gpu(7, 5)
    moved = {}
    monkeypatch.setattr(LatentDiffusion, "to", lambda self, device=None, dtype=None: moved.update(
        device=device, dtype=dtype) or self)  # no CUDA here: record the move instead
    model = load_model(str(folder), device="cuda")
    assert moved == {"device": "cuda", "dtype": torch.float16}
    assert torch.equal(first_weight(model.unet), first_weight(ref_fp16.unet))


def test_default_on_cpu_is_float32(with_variant):
    folder, *_ = with_variant
    assert load_model(str(folder)).unet.dtype == torch.float32


def test_hub_variant_missing_falls_back(monkeypatch):
    """A hub repo without the variant: from_pretrained's OSError for the variant, then the default weights."""
    calls = []

    class Component:
        @classmethod
        def from_pretrained(cls, source, subfolder, variant=None, output_loading_info=True, torch_dtype=None):
            calls.append(variant)
            if variant is not None:
                raise OSError(f"no file named diffusion_pytorch_model.{variant}.safetensors")
            return "default weights", {}

    loaded = loading._from_pretrained(Component, "some/repo", "unet", "fp16", local=False, torch_dtype=torch.float16)
    assert loaded == ("default weights", {})
    assert calls == ["fp16", None]


@pytest.fixture(scope="module")
def saved_from_half(tmp_path_factory):
    """A tiny SD folder whose text encoder's config.json says float16 (as one saved from a half-precision model
    does) over float32 weights; and the same folder with its config saying float32."""
    base = tmp_path_factory.mktemp("half-config")
    plain = save_random_sd(base / "plain", seed=2)
    folder = shutil.copytree(plain, base / "half")
    config = folder / "text_encoder" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"dtype": "float16", "torch_dtype": "float16"}))
    return folder, plain


@pytest.mark.parametrize("dtype, expected", [(torch.float32, torch.float32), (torch.float64, torch.float32),
                                             (torch.bfloat16, torch.bfloat16)])
def test_text_encoder_in_the_requested_dtype_whatever_its_config_says(saved_from_half, dtype, expected):
    """transformers 5 takes the config's dtype when from_pretrained is given none ("auto"): float32 weights rounded
    to float16 (transformers 4: float32). The loader always says which."""
    folder, plain = saved_from_half
    loaded, reference = load_model(str(folder), dtype=dtype).text_encoder, load_model(str(plain)).text_encoder
    assert loaded.dtype == expected
    weights, exact = loaded.state_dict(), reference.state_dict()
    assert weights.keys() == exact.keys()
    assert all(torch.equal(weights[k].float(), exact[k].to(expected).float()) for k in exact)
    assert any(not torch.equal(w.half().float(), w) for w in exact.values() if w.is_floating_point())  # it shows


def test_text_dtype_is_float32_at_most():
    assert [loading.text_dtype(d) for d in (None, torch.float64, torch.float32, torch.float16)] == \
           [torch.float32, torch.float32, torch.float32, torch.float16]
