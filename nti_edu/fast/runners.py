"""Two ways to run the UNet for the fast path: eager PyTorch calls, or replayed CUDA graphs.

Both offer the same three calls: ``predict`` (one no-grad prediction anywhere, for the pivots),
``begin_step`` + ``predict_at_step`` (predictions at the current sampling step's (x_t, t)) and
``iterate`` (one inner iteration on a ``StepState``).

- ``EagerRunner`` calls the UNet as PyTorch does; with ``cache`` it computes the UNet's prompt-free
  part once per sampling step (``unet_split``), and with ``trace`` it replays a ``torch.jit.trace`` of
  the call (``tracing``): both help where each call costs its full compute and Python (the CPU).
- ``GraphRunner`` records each computation once as a CUDA graph and replays it: at batch 1 a UNet
  call is hundreds of small kernels, and the GPU otherwise waits on Python to launch them one by one.
"""
from __future__ import annotations

import torch

from .inner import StepState, inner_iteration
from .settings import FastSettings
from .tracing import Traces
from .unet_split import can_split, prompt_free_part, rest_of_unet


class EagerRunner:
    """The UNet called eagerly, in the settings' precision and memory layout."""

    def __init__(self, model, settings: FastSettings):
        self.settings, self.unet = settings, model.unet
        self.prepare()
        self.call = torch.compile(self.unet) if settings.compile else self.unet
        self.traces = Traces()
        self.x_t = self.t = self.part = None

    def prepare(self) -> None:
        """Put the UNet's weights in the settings' layout (in place; their values do not change)."""
        if self.settings.channels_last:
            self.unet.to(memory_format=torch.channels_last)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.settings.channels_last else x

    def eps(self, x, t: torch.Tensor, emb, part=None, trace: bool = False) -> torch.Tensor:
        """eps_theta(x, t, emb) (B, C, h, w) in the work dtype; from the cached part when given, through
        a recorded trace when asked."""
        dtype = self.settings.unet_dtype  # inputs in the weights' dtype; autocast lowers them further
        with self.settings.autocast():
            emb = emb.to(dtype)  # (B, L, D); differentiable
            if part is not None:
                out = self.traces.rest(self.unet, part, emb) if trace else rest_of_unet(self.unet, part, emb)
            else:
                x = self.layout(x.to(dtype))  # (B, C, h, w)
                out = self.traces.whole(self.unet, x, t, emb) if trace else \
                    self.call(x, t, encoder_hidden_states=emb).sample
        return out.to(self.settings.work_dtype)  # (B, C, h, w)

    @torch.no_grad()
    def predict(self, x, t: int, emb) -> torch.Tensor:
        """One prediction with no gradient, in the latents' dtype: what ``model.predict_eps`` returns.
        Never traced: the pivots' 50 calls would not repay the recording."""
        t_batch = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)  # (B,)
        return self.eps(x, t_batch, emb).to(x.dtype)

    def begin_step(self, x_t: torch.Tensor, t: int) -> None:
        """Fix (x_t, t) for one sampling step; with the cache, run the prompt-free part once."""
        self.x_t, self.t = x_t, torch.full((x_t.shape[0],), int(t), device=x_t.device, dtype=torch.long)
        self.part = None
        if self.settings.cache and can_split(self.unet, x_t):
            with self.settings.autocast():
                self.part = prompt_free_part(self.unet, self.layout(x_t.to(self.settings.unet_dtype)), self.t)

    @torch.no_grad()
    def predict_at_step(self, emb) -> torch.Tensor:
        """eps_theta(x_t, t, emb) at this step's (x_t, t), no gradient, in the work dtype."""
        return self.eps(self.x_t, self.t, emb, self.part, self.settings.trace)

    def iterate(self, state: StepState, w: float) -> None:
        inner_iteration(state, lambda emb: self.eps(state.x_t, state.t, emb, self.part, self.settings.trace), w,
                        self.settings.loss_scale)


def capture(fn, warmup: int = 2) -> torch.cuda.CUDAGraph:
    """Record fn's kernels as a CUDA graph after warm-up runs on a side stream (PyTorch's recipe:
    libraries allocate their workspaces during warm-up, never during capture)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph


class GraphedForward:
    """One no-grad UNet call recorded for fixed shapes; inputs are copied into static buffers."""

    def __init__(self, runner: EagerRunner, x, t: int, emb):
        self.x, self.emb = x.clone(), emb.to(runner.settings.unet_dtype, copy=True)  # (B, C, h, w), (B, L, D)
        self.t = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)  # (B,)

        def record():  # a local function, so that no reference cycle keeps the graph's memory alive
            self.out = runner.eps(self.x, self.t, self.emb)  # (B, C, h, w), in the graph's memory
        with torch.no_grad():
            self.graph = capture(record)

    def __call__(self, x, t: int, emb) -> torch.Tensor:
        self.x.copy_(x)
        self.t.fill_(int(t))
        self.emb.copy_(emb)
        self.graph.replay()
        return self.out.clone()  # (B, C, h, w), work dtype


class GraphRunner(EagerRunner):
    """Every UNet computation replayed from a CUDA graph: no per-kernel launch cost, no host sync."""

    def __init__(self, model, settings: FastSettings):
        super().__init__(model, settings)
        self.forwards, self.iteration, self.recorded_for = {}, None, None

    def graphed_eps(self, x, t: int, emb) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, tuple(emb.shape))
        if key not in self.forwards:
            self.forwards[key] = GraphedForward(self, x, t, emb)
        return self.forwards[key](x, t, emb)

    def predict(self, x, t: int, emb) -> torch.Tensor:
        return self.graphed_eps(x, t, emb).to(x.dtype)

    def begin_step(self, x_t: torch.Tensor, t: int) -> None:
        self.x_t, self.t_int = x_t, int(t)

    def predict_at_step(self, emb) -> torch.Tensor:
        return self.graphed_eps(self.x_t, self.t_int, emb)

    def iterate(self, state: StepState, w: float) -> None:
        if self.recorded_for is None or self.recorded_for[0] is not state or self.recorded_for[1] != w:
            # record once per state (held, so its buffers outlive the graph), then undo the warm-up runs
            saved = [tensor.clone() for tensor in state.mutable()]
            self.iteration = capture(lambda: super(GraphRunner, self).iterate(state, w))
            self.recorded_for = (state, w)
            for tensor, value in zip(state.mutable(), saved):
                tensor.copy_(value)
        self.iteration.replay()  # reads and writes the state's buffers, which never move


def make_runner(model, settings: FastSettings) -> EagerRunner:
    return GraphRunner(model, settings) if settings.cuda_graph else EagerRunner(model, settings)
