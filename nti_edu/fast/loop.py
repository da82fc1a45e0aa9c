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

import torch
from tqdm.auto import tqdm

from ..ddim import ddim_step
from ..guidance import check_guidance, guided_eps
from ..null_text import check_finite, check_settings, pivots
from ..result import InversionResult
from .inner import StepState, StopFlag
from .runners import make_runner
from .settings import resolve


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

    def histories(self, pairs) -> list[list[float]]:
        """Every step's history, with one transfer; raise a FloatingPointError at the first divergence."""
        loss, active, size = self.loss.cpu(), self.active.cpu(), self.latent_size.cpu()
        result = []
        for i, (t, _) in enumerate(pairs):
            check_finite(loss[i, :self.ran[i]][active[i, :self.ran[i]]], i, t, "pivotal loss")
            check_finite(size[i], i, t, "latent after the guided DDIM step")
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


def fast_optimize_nulls(model, latents, emb_cond, *, w: float = 7.5, num_inner_steps: int = 10, lr: float = 1e-2,
                        early_stop_eps: float | None = 1e-5, progress: bool = True, callback=None, runner=None,
                        **options):
    """``null_text.optimize_nulls`` on the fast path: same arguments and returns, plus the options of
    ``fast_null_text_inversion`` (precision, cuda_graph, cache, channels_last, compile, trace).

    The losses are read back once at the end, or once per step when ``progress`` or ``callback`` needs them.
    """
    runner = runner or make_runner(model, resolve(model, **options))
    runner.prepare()
    schedule, N, x_t = model.schedule, len(latents) - 1, latents[-1]
    state = StepState.allocate(x_t, model.null_embedding(emb_cond.shape[0]), runner.settings.work_dtype)
    log, stop, nulls = StepLog(N, num_inner_steps, state), StopFlag(x_t.device), []
    bar = tqdm(schedule.pairs(N), desc="null-text inversion (fast)", disable=not progress)
    for i, (t, t_prev) in enumerate(bar):
        # 1. the conditional prediction, once per step; then this step's inputs into the state
        runner.begin_step(x_t, t)
        eps_cond = runner.predict_at_step(emb_cond)  # (B, C, h, w), work dtype
        threshold = float("-inf") if early_stop_eps is None else early_stop_eps + 2e-5 * i
        state.load(x_t, t, eps_cond, latents[N - i - 1], float(schedule.alpha_bar_at(t)),
                   float(schedule.alpha_bar_at(t_prev)), threshold)
        # 2. tune this step's null embedding, starting from the previous step's
        run_inner_loop(runner, state, log, stop, i, num_inner_steps, lr * (1 - i / 100), w)
        nulls.append(state.emb_null.to(model.dtype, copy=True))  # (B, L, D)
        # 3. advance the current latent with the tuned embedding
        x_t = advance(runner, x_t, state, eps_cond, w).to(x_t.dtype)
        log.latent_size[i].copy_(x_t.abs().amax())
        report(log, i, bar, callback, progress)
    return nulls, log.histories(schedule.pairs(N))


def advance(runner, x_t, state: StepState, eps_cond, w: float) -> torch.Tensor:
    """x_bar_{t-1}: one guided DDIM step from x_t with the tuned null embedding (no gradient)."""
    eps_null = runner.predict_at_step(state.emb_null)  # (B, C, h, w)
    return ddim_step(x_t.to(eps_null.dtype), guided_eps(eps_null, eps_cond, w), state.alpha_bar_t, state.alpha_bar_prev)


def report(log: StepLog, i: int, bar, callback, progress: bool) -> None:
    """Read step i's losses back (one sync) only when a progress bar or a callback wants them."""
    if callback is None and not progress:
        return
    losses = log.history(i)
    bar.set_postfix(loss=f"{losses[-1]:.2e}" if losses else "-")
    if callback is not None:
        callback(i, losses)


def fast_null_text_inversion(model, images: torch.Tensor, prompts, *, num_steps: int = 50, w: float = 7.5,
                             num_inner_steps: int = 10, lr: float = 1e-2, early_stop_eps: float | None = 1e-5,
                             progress: bool = True, callback=None, precision: str | None = None,
                             cuda_graph: bool | None = None, cache: bool | None = None,
                             channels_last: bool = False, compile: bool = False,
                             trace: bool | None = None) -> InversionResult:
    """``null_text.null_text_inversion`` on the fast path: the same algorithm, arguments and result.

    precision: None (the model's dtype), "fp32", "bf16" or "fp16" (autocast of a float32 model; the
    null embedding, Adam and the DDIM step stay float32). cuda_graph: replay each inner iteration as a
    CUDA graph (None: on CUDA). cache: reuse the UNet's prompt-free part per step (None: on the eager
    path). channels_last: NHWC convolutions (converts the UNet's weights' layout in place). compile:
    ``torch.compile`` the UNet (slow to compile; on a CPU it took minutes). trace: replay a
    ``torch.jit.trace`` of the UNet's call (eager path, no autocast; None: on a CPU, when the UNet has no
    Python hooks or custom attention processors, which a trace would call only once; see ``tracing``).
    """
    check_settings(num_steps, num_inner_steps, lr, early_stop_eps)
    w = check_guidance(w)
    settings = resolve(model, precision, cuda_graph, cache, channels_last, compile, trace)
    runner, start = make_runner(model, settings), time.perf_counter()
    # 1. pivots x*_0..x*_T: DDIM inversion at w = 1 (sec. 3.1), through the same runner
    latents, emb_cond, prompts = pivots(FastPredictions(model, runner), images, prompts, num_steps=num_steps,
                                       progress=progress)
    pivot_seconds = time.perf_counter() - start
    # 2. the per-step null embeddings (sec. 3.2)
    nulls, losses = fast_optimize_nulls(model, latents, emb_cond, w=w, num_inner_steps=num_inner_steps, lr=lr,
                                        early_stop_eps=early_stop_eps, progress=progress, callback=callback,
                                        runner=runner)
    fast = {"precision": str(settings.compute_dtype).removeprefix("torch."), "cuda_graph": settings.cuda_graph,
            "cache": settings.cache, "channels_last": settings.channels_last, "compile": settings.compile,
            "trace": settings.trace}
    settings_out = {"w_invert": 1.0, "num_inner_steps": num_inner_steps, "lr": lr, "early_stop_eps": early_stop_eps,
                    "pivot_seconds": pivot_seconds, "fast": fast}
    return InversionResult(method="null-text", prompts=prompts, num_steps=num_steps, w=w, latents=latents,
                           emb_cond=emb_cond, emb_null=nulls, losses=losses, seconds=time.perf_counter() - start,
                           settings=settings_out)


class FastPredictions:
    """The model, with ``predict_eps`` answered by a fast runner (for the pivots' DDIM inversion)."""

    def __init__(self, model, runner):
        self.model, self.runner = model, runner

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict_eps(self, x_t, t: int, emb) -> torch.Tensor:
        return self.runner.predict(x_t, t, emb)  # (B, C, h, w)
