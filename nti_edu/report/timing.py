"""Timing for benchmarks: wall and CPU seconds, peak device memory, and a soft wall-clock budget.

``Runs`` keeps every configuration's timings (each repeat) and its first result, and skips a run whose
estimate would not fit the ``Budget`` left, so that a device call of fixed length ends with its most
important rows measured. ``Bench`` runs rows phase by phase, the UNet's weights
in each phase's dtype. ``cpu_timings``: the embedded model's per-call cost. ``loss_difference`` compares
two runs' loss curves (the same algorithm agrees).
"""
from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from typing import NamedTuple

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


class Phase(NamedTuple):
    """Rows that run with the UNet's weights in one dtype."""

    dtype: torch.dtype
    rows: list  # (name, closure, note)
    then: object = None  # called after the rows, in the first repeat only (e.g. the batched runs)


class Bench:
    """One model's rows, run phase by phase in the order given (the reference and the target first), each
    phase with the UNet's weights in its dtype. Every result is judged (``judge(nulls) -> dB``) with the
    float32 weights, and ``show()`` rewrites the model's section of the report (its speed table, then the
    ``extras`` tables) after each row: a call cut short by its time limit keeps what it measured.
    ``table(runs, quality) -> lines`` writes the speed table; ``report.set(key, lines)`` stores the section."""

    def __init__(self, model, runs: Runs, judge, report, key: str, table):
        self.model, self.runs, self.judge, self.report, self.key, self.table = model, runs, judge, report, key, table
        self.quality, self.extras, self.fp32_weights = {}, {}, None

    def set_dtype(self, dtype: torch.dtype) -> None:
        """The UNet's weights in ``dtype``: lowered in place (a float32 copy kept on the host), or restored
        exactly from that copy. Only one copy sits on the device, so the memory column stays honest."""
        unet = self.model.unet
        if unet.dtype == dtype:
            return
        if dtype == torch.float32:
            unet.to(torch.float32).load_state_dict(self.fp32_weights)
            return
        if self.fp32_weights is None:
            self.fp32_weights = {k: v.to("cpu", copy=True) for k, v in unet.state_dict().items()}
        unet.to(dtype)

    def judge_pending(self) -> None:
        """PSNR (or latent SNR) of every result not judged yet, while the weights are float32."""
        if self.model.unet.dtype != torch.float32:
            return
        for name, (nulls, _) in self.runs.results.items():
            if name not in self.quality:
                self.quality[name] = f"{self.judge(nulls):.2f}"

    def run(self, phases: list[Phase], repeats: int) -> None:
        """Every phase ``repeats`` times (later repeats: only the rows that were quick, see run_rows)."""
        for r in range(repeats):
            for phase in phases:
                self.set_dtype(phase.dtype)
                run_rows(self.runs, phase.rows, first=r == 0, after_each=self.update)
                if r == 0 and phase.then is not None:
                    phase.then()
        self.set_dtype(torch.float32)
        self.update()

    def update(self) -> None:
        self.judge_pending()
        self.show()

    def show(self) -> None:
        self.report.set(self.key, self.table(self.runs, self.quality) + sum(self.extras.values(), []))


def run_rows(runs: Runs, rows: list, first: bool = True, slow: float = 20.0, after_each=None) -> None:
    """Run each row once; in a later repeat (``first`` False) only the rows measured before, and on CUDA
    only those that took under ``slow`` seconds (the eager rows wait on Python; repeating them would not
    fit one 10-minute call). ``after_each()`` follows every row run."""
    for name, fn, note in rows:
        if first or (name in runs.times and (runs.device != "cuda" or runs.median(name) < slow)):
            runs.run(name, fn, note)
            if after_each is not None:
                after_each()


def machine(device: str = "cpu") -> str:
    """The device in words: the GPU's name and CUDA version, or the CPU's model, cores and torch threads."""
    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")] \
        if os.path.exists("/proc/cpuinfo") else []
    name = names[0] if names else platform.processor() or platform.machine()
    return f"CPU {name}, {os.cpu_count()} cores, torch {torch.get_num_threads()} thread(s)"


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
