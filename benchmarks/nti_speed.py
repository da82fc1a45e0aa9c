"""Null-text inversion speed: the official loop as it runs, against nti_edu's readable and fast paths.

    python benchmarks/nti_speed.py --device cpu --threads 2 --out benchmarks/nti_speed_cpu.md
    python benchmarks/nti_speed.py --device cuda --out $OUT/nti_speed_gpu.md     # benchmarks/gpu_session.sh
    python benchmarks/nti_speed.py --device cpu --quick --out /tmp/nti_speed.md  # a smoke run

Every configuration runs in this one process on the same device, interleaved when repeated, on the same
pivots. On CUDA the model is Stable Diffusion 1.5's UNet with random weights (a random UNet of that
architecture costs the same per call), then the embedded model; on the CPU the embedded model (its trained
weights). Pivots are computed once, outside the timed loops. benchmarks/README.md explains the techniques.
"""
from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from nti_edu.fast import fast_optimize_nulls
from nti_edu.inversion import ddim_invert
from nti_edu.metrics import psnr
from nti_edu.models import load_model
from nti_edu.null_text import optimize_nulls, pivots
from nti_edu.reconstruction import reconstruct_latents
from nti_edu.report.official import official_loop
from nti_edu.report.timing import Bench, Budget, Phase, Runs, loss_difference, machine, timed
from nti_edu.result import InversionResult
from nti_edu.testing.random_init import sd15_shaped_model


def pivots_of(model, images, prompts, num_steps: int):
    """(the pivots z*_T..z*_0, noisiest first; the prompt embeddings): null-text inversion's DDIM inversion at w = 1."""
    pivotal = pivots(model, images, prompts, num_steps=num_steps)
    return pivotal.latents, pivotal.emb_cond


# -- models ---------------------------------------------------------------------------------------
def embedded_model(device: str):
    return load_model("embedded", device=device), "the embedded model (trained weights)"


def fast_run(model, latents, emb_cond, args, early_stop_eps=None, **options):
    """A closure running the fast loop with ``options`` (a fresh runner: recordings happen inside the timing)."""
    return lambda: fast_optimize_nulls(model, latents, emb_cond, num_steps=len(latents) - 1,
                                       num_inner_steps=args.inner, early_stop_eps=early_stop_eps, progress=False,
                                       **options)


def restoring_layout(model, fn):
    """fn, then the UNet's weights back in the default layout (channels_last converts them in place)."""
    def run():
        try:
            return fn()
        finally:
            model.unet.to(memory_format=torch.contiguous_format)
    return run


# -- the rows ---------------------------------------------------------------------------------------
REFERENCE, READABLE = "official loop (reference)", "readable loop (null_text.py)"
TARGET = "fast, bf16 weights, CUDA graphs"  # the default on CUDA: issue 7's 10 s / 4 GiB row
CPU_DEFAULT = "fast, fp32, cache + trace"  # the default on a CPU: issue 7's 30 s row
CPU_TARGET_S = 30.0


def reference_rows(model, latents, emb_cond, args) -> list:
    """(name, closure, note) of the official loop as it runs and of nti_edu's readable loop."""
    kw = dict(num_steps=len(latents) - 1, num_inner_steps=args.inner, early_stop_eps=None, progress=False)
    return [(REFERENCE, lambda: official_loop(model, latents, emb_cond, early_stop_eps=None, num_inner_steps=args.inner),
             "fp32, trainable UNet weights, loss.item() every iteration"),
            (READABLE, lambda: optimize_nulls(model, latents, emb_cond, **kw), "fp32, frozen weights, one sync per iteration")]


def cpu_rows(model, latents, emb_cond, args) -> list:
    """The fast path's CPU configurations (float32 weights)."""
    fast = functools.partial(fast_run, model, latents, emb_cond, args)
    return [("fast, fp32, eager", fast(cache=False, trace=False), "no host sync"),
            ("fast, fp32, eager + cache", fast(trace=False), "prompt-free part once per step"),
            ("fast, fp32, cache + channels-last", restoring_layout(model, fast(channels_last=True, trace=False)), ""),
            (CPU_DEFAULT, fast(), "the CPU default: torch.jit.trace"),
            ("fast, fp32, cache + channels-last + trace", restoring_layout(model, fast(channels_last=True, trace=True)),
             ""),
            ("fast, bf16 autocast, cache", fast(precision="bf16"), "")]


def cuda_fp32_rows(model, latents, emb_cond, args) -> list:
    """The fast path's CUDA configurations with float32 weights."""
    fast = functools.partial(fast_run, model, latents, emb_cond, args)
    return [("fast, fp32, eager", fast(cuda_graph=False), "no host sync"),
            ("fast, fp32, CUDA graphs", fast(cuda_graph=True), ""),
            ("fast, fp32 weights + bf16 autocast, graphs", fast(cuda_graph=True, precision="bf16"), "")]


def loop_rows(model, latents, emb_cond, args, device: str) -> list:
    """Every float32-weight configuration for one image on ``device``."""
    fast_rows = cpu_rows if device == "cpu" else cuda_fp32_rows
    return reference_rows(model, latents, emb_cond, args) + fast_rows(model, latents, emb_cond, args)


def bf16_rows(model, latents, emb_cond, args) -> list:
    """CUDA configurations with the UNet's weights in bf16 (frozen weights need no float32 copy), the
    target row first."""
    fast = functools.partial(fast_run, model, latents, emb_cond, args)
    rows = [(TARGET, fast(cuda_graph=True), "the default on CUDA"),
            ("fast, bf16 weights, eager", fast(cuda_graph=False), ""),
            ("fast, bf16, graphs + channels-last", restoring_layout(model, fast(cuda_graph=True, channels_last=True)),
             "")]
    if args.compile:
        rows.append(("fast, bf16, graphs + torch.compile", fast(cuda_graph=True, compile=True),
                     "compile time included"))
    return rows


def sd15_phases(model, latents, emb_cond, args, batches) -> list[Phase]:
    """In order of importance, so that a call cut short still holds what issue 7 asks for: the reference
    and the target row, the readable loop, the batched runs (``batches()``, bf16 weights), then the other
    bf16 and float32 configurations."""
    reference, readable = reference_rows(model, latents, emb_cond, args)
    bf16 = bf16_rows(model, latents, emb_cond, args)
    return [Phase(torch.float32, [reference]), Phase(torch.bfloat16, bf16[:1]), Phase(torch.float32, [readable]),
            Phase(torch.bfloat16, [], then=batches), Phase(torch.bfloat16, bf16[1:]),
            Phase(torch.float32, cuda_fp32_rows(model, latents, emb_cond, args))]


# -- results ------------------------------------------------------------------------------------------
def world_images(n: int, device: str):
    """n held-out world images (B, 3, 64, 64) on the device and their prompts."""
    from nti_edu.world import heldout_seeds, make_batch

    images, prompts = make_batch(heldout_seeds(n))[:2]
    return images.to(device), prompts


def reconstruction_db(model, latents, emb_cond, nulls, images=None) -> float:
    """PSNR (dB) of the reconstruction at w = 7.5 against the input images when a VAE fits, else the
    latent signal-to-error ratio 10 log10(mean x*_0^2 / mean (x_0 - x*_0)^2)."""
    nulls = [e.to(model.dtype) for e in nulls]
    result = InversionResult(method="null-text", prompts=[""] * emb_cond.shape[0], num_steps=len(latents) - 1, w=7.5,
                             latents=latents, emb_cond=emb_cond, emb_null=nulls)
    x_0 = reconstruct_latents(model, result)[-1]  # (B, C, h, w)
    if images is not None:
        return psnr(model.latent_to_image(x_0).cpu(), images.cpu()).mean().item()
    err = (x_0.float() - latents[-1].float()).pow(2).mean()
    return (10 * torch.log10(latents[-1].float().pow(2).mean() / err)).item()


# -- the report -----------------------------------------------------------------------------------
class Report:
    """The markdown report, rewritten whole (atomically) whenever a section changes."""

    def __init__(self, args, load_before):
        self.args, self.load_before, self.sections = args, load_before, {}

    def set(self, key: str, lines: list[str]) -> None:
        self.sections[key] = lines
        self.write()

    def write(self) -> str:
        lines = header(self.args, self.args.device, self.load_before)
        text = "\n".join(lines + [line for section in self.sections.values() for line in section]) + "\n"
        out = Path(self.args.out)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out)
        return text


def header(args, device: str, load_before) -> list[str]:
    import diffusers
    import transformers

    load_after = os.getloadavg()
    budget = (f" A soft time budget of {args.budget:.0f} s: a row that would not fit what was left is marked "
              "'not run'." if args.budget else "")
    return ["# Null-text inversion speed: the official loop against nti_edu's fast path", "",
            f"Generated by `python benchmarks/nti_speed.py {' '.join(sys.argv[1:])}` on "
            f"{time.strftime('%Y-%m-%d %H:%M')}.",
            f"Device: {machine(device)}. Python {platform.python_version()}, torch {torch.__version__}, diffusers "
            f"{diffusers.__version__}, transformers {transformers.__version__}.",
            f"Load average (1, 5, 15 min) before: {fmt_load(load_before)}; after: {fmt_load(load_after)}.",
            f"{args.steps} DDIM steps x {args.inner} inner iterations, guidance 7.5, no early stop unless a row "
            "says so; "
            f"median of {args.repeats} interleaved repeats (on CUDA, rows slower than 20 s run once). Rows are "
            "listed in the order they first ran (on CUDA the reference and the target first)." + budget +
            " Techniques and reading guide: benchmarks/README.md.", ""]


def fmt_load(load) -> str:
    return ", ".join(f"{v:.1f}" for v in load)


def speed_table(title: str, iterations: int):
    """``table(runs, quality)`` for ``Bench``: time, time per inner iteration, peak memory, ratio, and agreement
    with the readable loop (the reference when it did not run). On the CPU the ratio is of CPU time (one thread:
    what a quiet machine's wall clock would show); on CUDA it is of wall time."""
    return lambda runs, quality: table(runs, title, iterations, quality)


def table(runs: Runs, title: str, iterations: int, quality: dict, reference=REFERENCE, plain=READABLE) -> list[str]:
    column = 1 if runs.device == "cpu" else 0
    ref = runs.median(reference, column) or float("nan")
    plain = plain if plain in runs.results else reference
    lines = [f"## {title}", "", f"| configuration | seconds | CPU s | s / inner iteration | peak GiB | speed-up vs "
             f"reference ({'CPU' if column else 'wall'} time) | loss curves vs {plain.split(' (')[0]} (max rel. diff) | "
             "reconstruction (dB) | note |", "|---|---|---|---|---|---|---|---|---|"]
    for name in runs.notes:
        wall, cpu, peak = runs.median(name), runs.median(name, 1), runs.median(name, 2)
        if wall is None:
            lines.append(f"| {name} | - | - | - | - | - | - | - | {runs.notes[name]} |")
            continue
        diff = loss_difference(runs.results[plain][1], runs.results[name][1]) if plain in runs.results else None
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / iterations:.4f} | "
                     f"{'-' if peak is None else f'{peak:.2f}'} | {ref / runs.median(name, column):.2f}x | "
                     f"{'-' if diff is None else f'{diff:.1e}'} | {quality.get(name, '-')} | {runs.notes[name]} |")
    return lines + [""]


def batch_table(rows: list, args) -> list[str]:
    how = (f"Each batch size one fresh call over the full {args.steps} x {args.inner}, as a user calls it: the "
           "trace (CPU) or graphs (CUDA) are recorded inside the timing." if args.batch_steps == args.steps else
           f"Measured over {args.batch_steps} steps x {args.inner} inner iterations and scaled to {args.steps} x "
           f"{args.inner}: the one-time recording of the trace or graphs is scaled too, so this understates the rate.")
    lines = ["## Batched inversion: several images at once (fast path, default options)", "", how, "",
             "| images at once | seconds (measured) | s / inner iteration | peak GiB | images per minute |",
             "|---|---|---|---|---|"]
    for batch, wall, peak in rows:
        full = wall * args.steps / args.batch_steps
        lines.append(f"| {batch} | {wall:.2f} | {wall / (args.batch_steps * args.inner):.4f} | "
                     f"{'-' if peak is None else f'{peak:.2f}'} | {60 * batch / full:.1f} |")
    return lines + [""]


# -- the sections ------------------------------------------------------------------------------------
def measure_batches(model, args, device: str, inputs: dict, budget: Budget, first_estimate: float = 0.0,
                    **options) -> list:
    """(batch, seconds, peak GiB) for each batch size, fast path with the device's default options; a batch
    starts only if its estimate (the last batch's time, scaled by size) fits the budget."""
    rows, estimate = [], first_estimate
    for batch, (latents, emb_cond) in inputs.items():
        if rows:
            estimate = rows[-1][1] * batch / rows[-1][0]
        if not budget.allows(estimate):
            print(f"batch {batch}: skipped, {budget.left():.0f} s of the budget left", flush=True)
            break
        fn = fast_run(model, latents, emb_cond, args, **options)
        try:
            _, wall, _, peak = timed(fn, device)
        except (torch.cuda.OutOfMemoryError, MemoryError):
            print(f"batch {batch}: out of memory", flush=True)
            continue
        rows.append((batch, wall, peak))
        print(f"batch {batch}: {wall:.2f} s", flush=True)
    return rows


def embedded_section(args, device: str, report: Report, budget: Budget) -> None:
    """The embedded model: every configuration on one image, then batches; quality on real images."""
    model, what = embedded_model(device)
    images, prompts = world_images(max(args.batches), device)
    latents, emb_cond = pivots_of(model, images[:1], prompts[:1], args.steps)
    runs = Runs(device, budget)
    bench = Bench(model, runs, lambda nulls: reconstruction_db(model, latents, emb_cond, nulls, images[:1]), report,
                  "embedded", speed_table(f"One image, {what}, {device}", args.steps * args.inner))
    bench.run([Phase(torch.float32, loop_rows(model, latents, emb_cond, args, device))], args.repeats)
    if device == "cpu":
        bench.extras["target"] = cpu_target_lines(runs, args)
        bench.show()
    if budget.allows(2 * runs.estimate(READABLE)):
        bench.extras["early stop"] = early_stop_rows(model, latents, emb_cond, args, device)
        bench.show()
    inputs = {b: pivots_of(model, images[:b], prompts[:b], args.batch_steps) for b in args.batches}
    first = runs.estimate(READABLE) * args.batch_steps / args.steps
    bench.extras["batches"] = batch_table(measure_batches(model, args, device, inputs, budget, first,
                                                          **defaults(device)), args)
    bench.show()


def cpu_target_lines(runs: Runs, args) -> list[str]:
    """Issue 7's CPU target, judged on the fast path's CPU defaults: 50 x 10 on one image in at most 30 s."""
    seconds, threads = runs.median(CPU_DEFAULT), torch.get_num_threads()
    if seconds is None:
        return [f"Target (50 x 10 in at most {CPU_TARGET_S:.0f} s on the 2-core CPU): not measured, "
                f"{CPU_DEFAULT} did not run ({runs.notes.get(CPU_DEFAULT, '')}).", ""]
    verdict = "met" if seconds <= CPU_TARGET_S else "not met"
    if (args.steps, args.inner, threads) != (50, 10, 2):
        verdict = f"not judged: this run is {args.steps} x {args.inner} on {threads} thread(s)"
    return [f"Target: 50 x 10 for one image in at most {CPU_TARGET_S:.0f} s on the 2-core CPU, with the fast "
            f"path's CPU defaults ({CPU_DEFAULT}): {seconds:.2f} s, **{verdict}**.", ""]


def defaults(device: str) -> dict:
    return {"precision": "bf16"} if device == "cuda" else {}


def early_stop_rows(model, latents, emb_cond, args, device: str) -> list[str]:
    """The readable and fast loops with the official early stop (it bites on a trained model only)."""
    kw = dict(num_steps=len(latents) - 1, num_inner_steps=args.inner, early_stop_eps=1e-5, progress=False)
    (_, plain), wall_plain, cpu_plain, _ = timed(lambda: optimize_nulls(model, latents, emb_cond, **kw), device)
    (_, fast), wall_fast, cpu_fast, _ = timed(fast_run(model, latents, emb_cond, args, early_stop_eps=1e-5,
                                                       **defaults(device)), device)
    count = lambda h: sum(map(len, h))  # noqa: E731
    return ["With the official early stop (loss < 1e-5 + 2e-5 i), one run each: readable loop "
            f"{wall_plain:.2f} s ({cpu_plain:.2f} s CPU, {count(plain)} inner iterations), fast path {wall_fast:.2f} s "
            f"({cpu_fast:.2f} s CPU, {count(fast)} inner "
            f"iterations; on CUDA up to one more per step runs masked, as the stop flag is read one iteration "
            "late).", ""]


def sd15_section(args, device: str, folder: Path, report: Report, budget: Budget) -> None:
    """SD 1.5's UNet (random weights), one 64x64x4 latent, rows and batches in the order of ``sd15_phases``;
    each result judged with the float32 weights."""
    model, what = sd15_shaped_model(device, folder, args.sd15_unet)
    side, gen = model.unet.config.sample_size, torch.Generator().manual_seed(0)
    x_0 = torch.randn(1, 4, side, side, generator=gen).to(device)  # SD 1.5: a 512x512-equivalent latent
    emb_cond = model.encode_prompt([SD15_PROMPT])
    latents = ddim_invert(model, x_0, emb_cond, num_steps=args.steps, w=1.0)
    inputs = {b: sd15_inputs(model, b, side, args.batch_steps, gen, device) for b in args.batches}  # float32 pivots
    runs = Runs(device, budget)
    bench = Bench(model, runs, lambda nulls: reconstruction_db(model, latents, emb_cond, nulls), report, "sd15",
                  speed_table(f"One {side}x{side}x4 latent, {what}, {device}", args.steps * args.inner))

    def measure():  # with the bf16 weights, the fast path's defaults on CUDA
        rows = measure_batches(model, args, device, inputs, budget, runs.estimate(TARGET))
        bench.extras["batches"] = batch_table(rows, args) if rows else []
        bench.show()

    bench.run(sd15_phases(model, latents, emb_cond, args, measure), args.repeats)


SD15_PROMPT = "a photograph of a cat on a sofa"


def sd15_inputs(model, batch: int, side: int, num_steps: int, gen, device: str):
    """Pivots of ``batch`` random side x side x 4 latents and their prompt embeddings."""
    x_0 = torch.randn(batch, 4, side, side, generator=gen).to(device)  # (B, 4, side, side)
    emb_cond = model.encode_prompt([SD15_PROMPT] * batch)  # (B, 77, 768)
    return ddim_invert(model, x_0, emb_cond, num_steps=num_steps, w=1.0), emb_cond


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", required=True, help="markdown file for the tables (rewritten after every row)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--inner", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--batches", default="1,4,16", help="batch sizes for the batched table")
    p.add_argument("--batch-steps", type=int, default=None, help="steps for the batched runs (default: --steps; "
                   "fewer are scaled up, recording included)")
    p.add_argument("--budget", type=float, default=None, help="soft wall-clock budget in seconds: a row or batch "
                   "starts only if its estimate fits what is left (the shell's timeout stays the hard limit)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--compile", action="store_true", help="also try torch.compile (CUDA; compile time counts)")
    p.add_argument("--skip-sd15", action="store_true", help="CUDA: leave out SD 1.5's UNet")
    p.add_argument("--skip-embedded", action="store_true", help="leave out the embedded model")
    p.add_argument("--sd15-unet", default="full", choices=["full", "tiny"], help="tiny: a test-sized UNet in the "
                   "SD 1.5 section, which then also runs on the CPU (a smoke run of the GPU section's code)")
    p.add_argument("--quick", action="store_true", help="5 steps x 2 iterations, batches 1,2: a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.inner, args.repeats, args.batches, args.batch_steps = 5, 2, 1, "1,2", 5
    args.batches = [int(b) for b in args.batches.split(",")]
    args.batch_steps = args.batch_steps or args.steps
    if args.budget is not None and args.budget <= 0:
        p.error(f"--budget must be a positive number of seconds, got {args.budget}")
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    budget, report = Budget(args.budget), Report(args, os.getloadavg())
    if not args.skip_sd15 and (args.device == "cuda" or args.sd15_unet == "tiny"):
        with tempfile.TemporaryDirectory() as folder:
            sd15_section(args, args.device, Path(folder), report, budget)
        if args.device == "cuda":
            torch.cuda.empty_cache()
    if not args.skip_embedded:
        embedded_section(args, args.device, report, budget)
    text = report.write()
    print(text)
    return text


if __name__ == "__main__":
    main()
