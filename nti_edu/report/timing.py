"""Timing for benchmarks: wall and CPU seconds, peak device memory, and a soft wall-clock budget.

``Runs`` keeps every configuration's timings (each repeat) and its first result, and skips a run whose
estimate would not fit the ``Budget`` left, so that a device call of fixed length ends with its most
important rows measured. ``cpu_timings``: the embedded model's per-call cost. ``loss_difference`` compares two runs' loss curves (the same algorithm agrees).
"""
from __future__ import annotations

import gc
import os
import statistics
import time

import torch

from ..inversion import invert, resample

GIB = 2**30


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str):
    """(fn's result, wall seconds, process CPU seconds, peak GiB allocated on CUDA or None)."""
    gc.collect()  # the last run's runner, graphs and their memory go before this one is measured
    sync(device)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return out, wall, cpu, torch.cuda.max_memory_allocated() / GIB if device == "cuda" else None


class Budget:
    """A soft wall-clock budget (``--budget``): a run starts only if its estimate fits in what is left, so
    that a device call of fixed length ends with its most important rows measured (and written). The shell's
    ``timeout`` stays the hard limit. ``seconds=None``: no limit."""

    def __init__(self, seconds: float | None = None, clock=time.perf_counter):
        self.clock = clock
        self.end = None if seconds is None else clock() + seconds

    def left(self) -> float:
        return float("inf") if self.end is None else self.end - self.clock()

    def allows(self, estimate: float) -> bool:
        return self.left() >= estimate


class Runs:
    """Timings per configuration (every repeat) and each configuration's first result, in the order the
    configurations were first tried."""

    def __init__(self, device: str, budget: Budget | None = None):
        self.device, self.budget = device, budget or Budget()
        self.times, self.results, self.notes = {}, {}, {}

    def estimate(self, name: str) -> float:
        """Seconds a run of ``name`` may take: its own last time, else the slowest run so far (0 at first)."""
        if self.times.get(name):
            return self.times[name][-1][0]
        return max((row[0] for rows in self.times.values() for row in rows), default=0.0)

    def run(self, name: str, fn, note: str = "") -> None:
        if not self.budget.allows(self.estimate(name)):
            if name not in self.times:
                self.notes[name] = f"not run: time budget ({max(0.0, self.budget.left()):.0f} s left)"
            print(f"{name}: skipped, {self.budget.left():.0f} s of the budget left", flush=True)
            return
        try:
            out, wall, cpu, peak = timed(fn, self.device)
        except Exception as err:  # a variant that fails on this device is reported, not fatal
            self.notes[name] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160]}"
            print(f"{name}: {self.notes[name]}", flush=True)
            return
        if name not in self.times:
            self.notes[name] = note
        self.times.setdefault(name, []).append((wall, cpu, peak))
        self.results.setdefault(name, out)
        print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU" + (f", {peak:.2f} GiB" if peak else ""), flush=True)

    def median(self, name: str, column: int = 0):
        values = [row[column] for row in self.times.get(name, []) if row[column] is not None]
        return statistics.median(values) if values else None


def loss_difference(reference, other) -> float | None:
    """Largest relative difference between two runs' per-step loss curves (same iteration counts)."""
    pairs = [(p, q) for u, v in zip(reference, other) for p, q in zip(u, v)]
    return max(abs(p - q) / max(abs(p), 1e-30) for p, q in pairs) if pairs else None


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    """Median wall-clock milliseconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    calls = []
    for _ in range(warmup + repeats):
        start = time.perf_counter()
        fn()
        calls.append(time.perf_counter() - start)
    return 1000 * statistics.median(calls[warmup:])


def cpu_timings(model, image, prompt, repeats: int = 30) -> dict:
    """Median ms of one UNet call (cond + null batched), eager and traced (``torch.jit.trace``, as the
    fast path's ``trace=True``), and seconds of a 50-step inversion + reconstruction."""
    x = torch.randn(2, *model.latent_shape)
    emb = torch.cat([model.null_embedding(), model.encode_prompt(prompt)])  # (2, L, D)
    t = torch.tensor(500)
    with torch.no_grad():
        unet = torch.jit.trace(lambda x, t, emb: model.unet(x, t, encoder_hidden_states=emb, return_dict=False)[0],
                               (x, t, emb), check_trace=False)  # what the fast path's trace=True replays
        eager = median_ms(lambda: model.predict_eps(x, 500, emb), repeats)
        traced = median_ms(lambda: unet(x, t, emb), repeats)
        same = torch.allclose(unet(x, t, emb), model.predict_eps(x, 500, emb), atol=1e-5)
    start = time.perf_counter()
    result = invert(model, image, prompt, num_steps=50, w=1.0)
    model.latent_to_image(resample(model, result)[-1])
    return {"unet_ms": eager, "traced_ms": traced, "traced_same": same, "invert_50_s": time.perf_counter() - start,
            "load": os.getloadavg()}
