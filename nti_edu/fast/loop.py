"""Fast null-text inversion: Algorithm 1 of Mokady et al. (CVPR 2023), the same algorithm and result as
``nti_edu.null_text``, arranged so that the device never waits for the host.

What changes (see ``benchmarks/README.md`` for the measurements):
1. the UNet's weights stay frozen (``LatentDiffusion`` freezes them; the official notebook leaves a
   loaded pipeline's weights trainable, so its backward also computes 860M weight gradients);
2. no host sync per inner iteration: losses and early-stop flags stay on the device (``StepState``),
   Adam's update is masked per image, and the losses come back once, at the end;
3. reduced precision on request (``precision="bf16"``), with a float32 master copy of the null
   embedding, float32 Adam moments and a float32 DDIM step and loss;
4. on CUDA, each inner iteration (forward, backward, Adam) is one replayed CUDA graph;
5. on the eager path, the UNet's prompt-free part is computed once per sampling step, and on a CPU
   the UNet's call is replayed from a ``torch.jit.trace`` without diffusers' Python.
"""
from __future__ import annotations

import time
from dataclasses import fields

import torch
from tqdm.auto import tqdm

from ..ddim import ddim_step
from ..guidance import guided_eps
from ..null_text import NullTextConfig, check_finite, check_pivots, make_config, null_text_result, pivots
from ..result import InversionResult
from .inner import StepState, StopFlag
from .runners import make_runner
from .settings import resolve

CONFIG_FIELDS = {f.name for f in fields(NullTextConfig)}


class StepLog:
    """Per step and inner iteration, each image's loss and whether it was tuned, kept on the device."""

    def __init__(self, num_steps: int, num_inner_steps: int, state: StepState):
        B, device = state.loss.shape[0], state.loss.device
        self.loss = torch.zeros(num_steps, num_inner_steps, B, dtype=state.loss.dtype, device=device)
        self.active = torch.zeros(num_steps, num_inner_steps, B, dtype=torch.bool, device=device)
        self.latent_size = torch.zeros(num_steps, device=device)  # max |x_t| after each step: NaN or inf if it diverged
        self.ran = [0] * num_steps  # iterations run per step, known to the host

    def record(self, i: int, k: int, state: StepState) -> None:
        self.loss[i, k].copy_(state.loss)
        self.active[i, k].copy_(state.was_active)
        self.ran[i] = k + 1

    def history(self, i: int, loss=None, active=None) -> list[float]:
        """Step i's mean loss over the images tuned at each iteration (null_text.py's history)."""
        loss = (self.loss[i] if loss is None else loss).tolist()
        active = (self.active[i] if active is None else active).tolist()
        return [sum(v for v, a in zip(row, on) if a) / sum(on)
                for row, on in zip(loss[:self.ran[i]], active[:self.ran[i]]) if any(on)]

    def histories(self, steps) -> list[list[float]]:
        """Every step's history, with one transfer; raise a FloatingPointError at the first divergence."""
        loss, active, size = self.loss.cpu(), self.active.cpu(), self.latent_size.cpu()
        result = []
        for step in steps:
            i = step.i
            check_finite(loss[i, :self.ran[i]][active[i, :self.ran[i]]], step, "pivotal loss")
            check_finite(size[i], step, "latent after the guided DDIM step")
            result.append(self.history(i, loss[i], active[i]))
        return result


def run_inner_loop(runner, state: StepState, log: StepLog, stop: StopFlag, i: int, num_inner_steps: int,
                   lr: float, w: float) -> None:
    """Up to ``num_inner_steps`` Adam iterations at step i; stop once every image has stopped."""
    stop.reset()
    for k in range(num_inner_steps):
        state.adam.set_step(k + 1, lr)
        runner.iterate(state, w)
        log.record(i, k, state)
        if stop.all_stopped(state.active):
            break


def fast_optimize_nulls(model, latents, emb_cond, config: NullTextConfig | None = None, *, progress: bool = True,
                        callback=None, runner=None, **options):
    """``null_text.optimize_nulls`` on the fast path: the same arguments and returns (the pivots noisiest
    first), plus the options of ``fast_null_text_inversion`` (precision, cuda_graph, cache, channels_last,
    compile, trace) when no ``runner`` is given.

    The losses are read back once at the end, or once per step when a ``callback`` needs them.
    """
    settings = {k: options.pop(k) for k in list(options) if k in CONFIG_FIELDS}  # the rest are the fast options
    config = make_config(config, settings)
    check_pivots(latents, config)
    runner = runner or make_runner(model, resolve(model, **options))
    runner.prepare()
    steps, x_t = model.schedule.steps(config.num_steps), latents[0]
    state = StepState.allocate(x_t, model.null_embedding(emb_cond.shape[0]), runner.settings.work_dtype)
    log, stop, nulls = StepLog(len(steps), config.num_inner_steps, state), StopFlag(x_t.device), []
    for step in tqdm(steps, desc="null-text inversion (fast)", disable=not progress):
        # 1. the conditional prediction, once per step; then this step's inputs into the state
        runner.begin_step(x_t, step.t)
        eps_cond = runner.predict_at_step(emb_cond)  # (B, C, h, w), work dtype
        threshold = config.threshold_at(step.i)
        state.load(x_t, step.t, eps_cond, latents[step.i + 1], float(step.alpha_bar_t), float(step.alpha_bar_prev),
                   float("-inf") if threshold is None else threshold)
        # 2. tune this step's null embedding, starting from the previous step's
        run_inner_loop(runner, state, log, stop, step.i, config.num_inner_steps, config.lr_at(step.i), config.w)
        nulls.append(state.emb_null.clone())  # (B, L, D), the work dtype (float32 or float64)
        # 3. advance the current latent with the tuned embedding
        x_t = advance(runner, x_t, state, eps_cond, config.w).to(x_t.dtype)
        log.latent_size[step.i].copy_(x_t.abs().amax())
        report(log, step.i, callback)
    return nulls, log.histories(steps)


def advance(runner, x_t, state: StepState, eps_cond, w: float) -> torch.Tensor:
    """x_bar_{t-1}: one guided DDIM step from x_t with the tuned null embedding (no gradient)."""
    eps_null = runner.predict_at_step(state.emb_null)  # (B, C, h, w)
    return ddim_step(x_t.to(eps_null.dtype), guided_eps(eps_null, eps_cond, w), state.alpha_bar_t, state.alpha_bar_prev)


def report(log: StepLog, i: int, callback) -> None:
    """Read step i's losses back (one sync) only when a callback wants them."""
    if callback is not None:
        callback(i, log.history(i))


def fast_null_text_inversion(model, images: torch.Tensor, prompts, config: NullTextConfig | None = None, *,
                             progress: bool = True, callback=None, precision: str | None = None,
                             cuda_graph: bool | None = None, cache: bool | None = None,
                             channels_last: bool = False, compile: bool = False,
                             trace: bool | None = None, **settings) -> InversionResult:
    """``null_text.null_text_inversion`` on the fast path: the same algorithm, arguments and result.

    precision: None (the model's dtype), "fp32", "bf16" or "fp16" (autocast of a float32 model; the
    null embedding, Adam and the DDIM step stay float32). cuda_graph: replay each inner iteration as a
    CUDA graph (None: on CUDA). cache: reuse the UNet's prompt-free part per step (None: on the eager
    path). channels_last: NHWC convolutions (converts the UNet's weights' layout in place). compile:
    ``torch.compile`` the UNet (slow to compile; on a CPU it took minutes). trace: replay a
    ``torch.jit.trace`` of the UNet's call (eager path, no autocast; None: on a CPU, when the UNet has no
    Python hooks or custom attention processors, which a trace would call only once; see ``tracing``).
    """
    config = make_config(config, settings)  # the settings, checked once
    model.schedule.check_steps(config.num_steps)
    fast = resolve(model, precision, cuda_graph, cache, channels_last, compile, trace)
    start = time.perf_counter()
    pivotal = pivots(model, images, prompts, num_steps=config.num_steps, progress=progress)  # 1. (sec. 3.1)
    pivot_seconds = time.perf_counter() - start
    nulls, losses = fast_optimize_nulls(model, pivotal.latents, pivotal.emb_cond, config, progress=progress,
                                        callback=callback, runner=make_runner(model, fast))  # 2. (sec. 3.2)
    result = null_text_result(pivotal, config, nulls, losses, start, pivot_seconds)
    result.settings["fast"] = {"precision": str(fast.compute_dtype).removeprefix("torch."),
                               "cuda_graph": fast.cuda_graph, "cache": fast.cache,
                               "channels_last": fast.channels_last, "compile": fast.compile, "trace": fast.trace}
    return result
