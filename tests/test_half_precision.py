"""Null-text inversion on a float16 or bfloat16 model (issue 27): the null embeddings, Adam's state, the DDIM
step and the loss stay float32 while the UNet computes in half precision (a loss scale for float16), so the
reconstruction stays within 1 dB of the float32 run and the loss curves agree. On the embedded model, on the CPU."""
import pytest
import torch

from nti_edu.metrics import psnr
from nti_edu.models import load_model
from nti_edu.null_text import null_text_inversion
from nti_edu.reconstruction import reconstruct
from nti_edu.world import heldout_seeds, make_batch

SETTINGS = dict(num_steps=10, num_inner_steps=4, progress=False)


@pytest.fixture(scope="module")
def inputs():
    images, prompts = make_batch(heldout_seeds(2))[:2]
    return images, prompts


@pytest.fixture(scope="module")
def float32_run(inputs):
    model = load_model("embedded", dtype=torch.float32)
    result = null_text_inversion(model, *inputs, **SETTINGS)
    return result, psnr(reconstruct(model, result), inputs[0])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_null_text_matches_float32(inputs, float32_run, dtype):
    reference, reference_db = float32_run
    model = load_model("embedded", dtype=dtype)
    result = null_text_inversion(model, *inputs, **SETTINGS)
    assert model.unet.dtype == dtype
    assert all(e.dtype == torch.float32 for e in result.emb_null) and result.x_T.dtype == torch.float32
    db = psnr(reconstruct(model, result), inputs[0])  # (B,)
    assert (db - reference_db).abs().max() <= 1.0, (db, reference_db)
    first = [h[0] for h in result.losses]  # each step's loss before its first update
    ref_first = [h[0] for h in reference.losses]
    assert max(abs(a - b) / b for a, b in zip(first, ref_first)) <= 0.15, (first, ref_first)
