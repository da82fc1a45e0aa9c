"""The README's short example runs as written, offline, and shows what it says."""
import re
from pathlib import Path

import torch

from nti_edu.metrics import psnr
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
