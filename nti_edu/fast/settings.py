"""The fast path's options, checked once and resolved against the model (device, dtype)."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ..null_text import FP16_LOSS_SCALE
from .tracing import traceable

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class FastSettings:
    """How the fast path computes; ``resolve`` fills it from the user's options and the model."""

    device_type: str  # "cpu" or "cuda"
    unet_dtype: torch.dtype  # the dtype of the UNet's (frozen) weights
    compute_dtype: torch.dtype  # what the UNet computes in: autocast when lower than unet_dtype
    work_dtype: torch.dtype  # master null embedding, Adam moments, DDIM step and loss: float32 (or float64)
    cuda_graph: bool  # one CUDA graph per inner iteration (forward, backward and Adam) and per forward
    cache: bool  # reuse the UNet's prompt-free part within a sampling step (eager only)
    channels_last: bool  # convolutions in NHWC layout (the UNet's weights are converted in place)
    compile: bool  # torch.compile the UNet
    trace: bool  # torch.jit.trace the UNet's call per input shapes (eager, no autocast; automatic on a CPU)

    @property
    def loss_scale(self) -> float:
        return FP16_LOSS_SCALE if self.compute_dtype == torch.float16 else 1.0

    def autocast(self):
        """Autocast to compute_dtype when it is lower than the weights' dtype, else nothing."""
        if self.compute_dtype == self.unet_dtype:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.compute_dtype, cache_enabled=False)


def resolve(model, precision=None, cuda_graph=None, cache=None, channels_last=False, compile=False,
            trace=None) -> FastSettings:
    """Check the options and fill in the automatic ones (None): graphs on CUDA; elsewhere the cache, and
    on a CPU the trace where it is exact (``tracing.traceable``)."""
    device, unet_dtype = model.device, model.dtype
    compute_dtype = compute_dtype_for(precision, unet_dtype)
    if cuda_graph is None:
        cuda_graph = device.type == "cuda"
    if cuda_graph and device.type != "cuda":
        raise ValueError(f"cuda_graph=True needs the model on a CUDA device, it is on {device}; use cuda_graph=None")
    if cache is None:
        cache = not cuda_graph and not compile
    if cache and (cuda_graph or compile):
        raise ValueError("cache=True works on the eager path only; it cannot be combined with cuda_graph or compile")
    eager_exact = not (cuda_graph or compile or compute_dtype != unet_dtype)  # where a trace may replace a call
    if trace is None:
        trace = device.type == "cpu" and eager_exact and hasattr(torch.jit, "trace") and traceable(model.unet)
    if trace and not hasattr(torch.jit, "trace"):
        raise ValueError("trace=True needs torch.jit.trace, which this torch no longer has; use trace=False")
    if trace and not eager_exact:
        raise ValueError("trace=True works on the eager path without autocast only; it cannot be combined with "
                         "cuda_graph, compile or a precision below the model's dtype")
    work_dtype = torch.float64 if unet_dtype == torch.float64 else torch.float32
    return FastSettings(device.type, unet_dtype, compute_dtype, work_dtype, bool(cuda_graph), bool(cache),
                        bool(channels_last), bool(compile), bool(trace))


def compute_dtype_for(precision, unet_dtype: torch.dtype) -> torch.dtype:
    """The UNet's compute dtype: the weights' own (None) or a lower one reached by autocast."""
    if precision is None:
        return unet_dtype
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)} or None (the model's dtype), "
                         f"got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype != unet_dtype and not (unet_dtype == torch.float32 and dtype in (torch.bfloat16, torch.float16)):
        raise ValueError(f"precision={precision!r} on a {unet_dtype} model: autocast lowers a float32 model to "
                         "bf16 or fp16 only; load the model in the dtype you want, or pass precision=None")
    return dtype
