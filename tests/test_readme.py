"""The README's short example runs as written, offline, and shows what it says."""
import re
from pathlib import Path

import torch

from nti_edu.evaluator import load_evaluator
from nti_edu.metrics import psnr
from nti_edu.world import heldout_seeds, make_batch
from nti_edu.reconstruction import reconstruct

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs(no_network):
    code = re.search(r"## A short example\s+```python\n(.*?)```", README.read_text(), re.S).group(1)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - our own README
    model, images, ddim, nti = (scope[k] for k in ("model", "images", "ddim", "nti"))
    assert scope["prompts"] == ["a medium orange moon at the top left on a pink background"]  # as its comment says
    assert psnr(reconstruct(model, nti), images).item() > psnr(reconstruct(model, ddim), images).item() + 1
    source, edited = scope["source"], scope["edited"]
    assert source.shape == edited.shape == images.shape and (edited - source).abs().max() > 0.1
    assert torch.allclose(source, reconstruct(model, nti), atol=1e-4)
    # the background swap: the moon is the input's own pixels, the background the new prompt's
    keep = scope["keep_mask"](scope["swap"], model.tokenizer, images, scope["prompts"][0], ["moon"])  # (1, 1, H, W)
    moon = torch.from_numpy(make_batch(heldout_seeds(1))[3][0]["object"])  # (H, W) bool
    assert keep[0, 0][moon].float().mean() > 0.95 and keep.mean() < 2 * moon.float().mean()
    assert torch.allclose(edited * keep, images * keep, atol=1e-6)
    assert load_evaluator().matches(edited, [scope["target"]]).item()
