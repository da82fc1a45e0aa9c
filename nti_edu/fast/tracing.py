"""The UNet's call recorded with ``torch.jit.trace``, once per input shapes, for the eager path.

On a CPU an inner iteration of the embedded model is hundreds of small kernels, and diffusers' Python
around each of them (module calls, keyword handling, attention-processor dispatch) costs about a fifth
of it (measured on this project's 2-core CPU: 25 -> 20 ms per forward + backward). A trace replays the
recorded ATen ops without that Python; autograd works through it as usual. It is exact (the same ops,
the same order) for the fixed shapes it was recorded at, which is why it is keyed by them: the UNet's
only branches on its inputs are on their shapes. Python hooks on the UNet's modules run once, while
recording, and are not called again; so does a custom attention processor's Python (a Prompt-to-Prompt
controller, say). The fast path therefore traces on its own (``trace=None``) only on a CPU and only a UNet
that ``traceable`` finds free of both; ``trace=True`` asks for it anywhere on the eager path. TorchScript
is deprecated since torch 2.13 (its replacements, ``torch.export`` and ``torch.compile``, measured no gain
here or took minutes to compile): where a torch no longer has ``torch.jit.trace`` the fast path runs
eagerly, and the deprecation warning, about this module and not the caller's code, is not shown.
"""
from __future__ import annotations

import warnings

import torch

from .unet_split import PromptFreePart, rest_of_unet


HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                "_global_backward_pre_hooks")


def traceable(unet) -> bool:
    """True when a trace of ``unet`` replays exactly what its eager calls do: no Python hooks on its modules
    or on every module, and diffusers' own attention processors only (pure tensor code)."""
    modules = torch.nn.modules.module
    if any(getattr(modules, name, None) for name in GLOBAL_HOOKS):
        return False
    if any(getattr(m, name, None) for m in unet.modules() for name in HOOK_DICTS):
        return False
    processors = getattr(unet, "attn_processors", {}).values()
    return all(type(p).__module__.startswith("diffusers.") for p in processors)


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
                warnings.filterwarnings("ignore", r"`torch\.jit", DeprecationWarning)  # see the module's note
                self.traced[key] = torch.jit.trace(module, inputs, check_trace=False)
        return self.traced[key](*inputs)

    def whole(self, unet, x_t, t, emb) -> torch.Tensor:
        return self(WholeUNet(unet), x_t, t, emb)

    def rest(self, unet, part: PromptFreePart, emb) -> torch.Tensor:
        return self(RestOfUNet(unet, part.num_blocks), part.temb, part.h, emb, *part.skips)
