"""The UNet's call recorded with ``torch.jit.trace``, once per input shapes, for the eager path.

On a CPU an inner iteration of the embedded model is hundreds of small kernels, and diffusers' Python
around each of them (module calls, keyword handling, attention-processor dispatch) costs about a fifth
of it (measured on this project's 2-core CPU: 25 -> 20 ms per forward + backward). A trace replays the
recorded ATen ops without that Python; autograd works through it as usual. It is exact (the same ops,
the same order) for the fixed shapes it was recorded at, which is why it is keyed by them: the UNet's
only branches on its inputs are on their shapes. Python hooks on the UNet's modules run once, while
recording, and are not called again. TorchScript is deprecated since torch 2.13 (its replacements,
``torch.export`` and ``torch.compile``, measured no gain here or took minutes to compile), so the fast
path uses it only when asked (``trace=True``).
"""
from __future__ import annotations

import warnings

import torch

from .unet_split import PromptFreePart, rest_of_unet


class WholeUNet(torch.nn.Module):
    """eps_theta(x_t, t, emb) as a module of tensors only (what tracing needs)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x_t, t, emb):
        return self.unet(x_t, t, encoder_hidden_states=emb, return_dict=False)[0]  # (B, C, h, w)


class RestOfUNet(torch.nn.Module):
    """``rest_of_unet`` with the prompt-free part passed as tensors: (temb, h, emb, *skips)."""

    def __init__(self, unet, num_blocks: int):
        super().__init__()
        self.unet, self.num_blocks = unet, num_blocks

    def forward(self, temb, h, emb, *skips):
        return rest_of_unet(self.unet, PromptFreePart(temb, h, tuple(skips), self.num_blocks), emb)


class Traces:
    """Traced modules, one per kind and input shapes and dtypes, recorded at first use."""

    def __init__(self):
        self.traced = {}

    def __call__(self, module: torch.nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
        key = (type(module).__name__,) + tuple((tuple(x.shape), x.dtype, x.is_contiguous()) for x in inputs)
        if key not in self.traced:
            with warnings.catch_warnings():  # diffusers' shape asserts: constant for fixed shapes
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                self.traced[key] = torch.jit.trace(module, inputs, check_trace=False)
        return self.traced[key](*inputs)

    def whole(self, unet, x_t, t, emb) -> torch.Tensor:
        return self(WholeUNet(unet), x_t, t, emb)

    def rest(self, unet, part: PromptFreePart, emb) -> torch.Tensor:
        return self(RestOfUNet(unet, part.num_blocks), part.temb, part.h, emb, *part.skips)
