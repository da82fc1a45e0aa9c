"""Alone vs. beside a busy process: how each entry point fares on a shared CPU (issue 29).

    python benchmarks/contention.py --out benchmarks/contention.md            # about 25 minutes on 2 cores
    python benchmarks/contention.py --repeats 1 --out /tmp/contention.md      # a shorter run

Each entry point runs null-text inversion (20 steps, 5 inner iterations) on one held-out world image, in a
fresh process, once alone and once while a background process multiplies 2000 x 2000 matrices on 2 torch
threads (started before, killed after; OpenMP's defaults, so its threads spin as any torch program's do).
Runs are interleaved (alone, contended, alone, ...) and repeated; the table gives medians and the ratio of the
medians. "today" is nti_edu without its thread policy (``NTI_EDU_THREADS=off``), "policy" the default
(nti_edu/threads.py). This script imports neither torch nor nti_edu, so the children start from the same
environment, with every OMP_* variable removed.

On a machine where other work runs as well (this project's shares 2 cores with other agents), "alone" means
"without our background load", not idle: the load average is recorded before and after.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOAD = "import torch\ntorch.set_num_threads(2)\na = torch.randn(2000, 2000)\nwhile True:\n    a @ a\n"
SETUP = ("from nti_edu.world import make_batch, heldout_seeds\nfrom nti_edu.images import tensor_to_pil\n"
         "images, prompts = make_batch(heldout_seeds(1))[:2]\ntensor_to_pil(images[0]).save({path!r})\n"
         "print(prompts[0])\n")
WORK = ("from nti_edu.null_text import null_text_inversion\nfrom nti_edu.world import make_batch, heldout_seeds\n"
        "model = lecture.load()\nimages, prompts = make_batch(heldout_seeds(1))[:2]\n"
        "null_text_inversion(model, images, prompts, num_steps=20, num_inner_steps=5)\n")
PACKAGE_FIRST = "from nti_edu import lecture\nimport torch\n" + WORK
TORCH_FIRST = "import torch\nfrom nti_edu import lecture\n" + WORK


def clean_env(**extra) -> dict:
    threads = ("OMP_", "MKL_", "GOMP_", "KMP_", "NTI_EDU_THREADS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(threads)}
    return {**env, **extra}


def entries(image: Path, prompt: str, out: Path) -> list[tuple[str, str, list[str], dict]]:
    """(entry point, variant, command, environment) for every row of the table."""
    cli = [sys.executable, "-m", "nti_edu", "invert", str(image), "--prompt", prompt, "--steps", "20",
           "--inner-steps", "5", "--out", str(out), "-q"]
    py = [sys.executable, "-c"]
    return [("`nti-edu invert`", "today", cli, clean_env(NTI_EDU_THREADS="off")),
            ("`nti-edu invert`", "policy", cli, clean_env()),
            ("`nti-edu invert --threads 1`", "policy", cli + ["--threads", "1"], clean_env()),
            ("package / lecture, nti_edu imported first", "today", py + [PACKAGE_FIRST],
             clean_env(NTI_EDU_THREADS="off")),
            ("package / lecture, nti_edu imported first", "policy", py + [PACKAGE_FIRST], clean_env()),
            ("script importing torch first (notebooks, benchmarks/*.py)", "policy (too late)", py + [TORCH_FIRST],
             clean_env()),
            ("script importing torch first (notebooks, benchmarks/*.py)", "OMP_WAIT_POLICY=PASSIVE set before start",
             py + [TORCH_FIRST], clean_env(OMP_WAIT_POLICY="PASSIVE"))]


def timed(command: list[str], env: dict, timeout: float) -> float:
    start = time.perf_counter()
    try:
        subprocess.run(command, env=env, check=True, timeout=timeout, stdout=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - start


def contended(command: list[str], env: dict, timeout: float) -> float:
    load = subprocess.Popen([sys.executable, "-c", LOAD], env=clean_env())
    try:
        time.sleep(2.0)  # the load is busy before we start
        return timed(command, env, timeout)
    finally:
        load.kill()
        load.wait()


def measure(rows, repeats: int, timeout: float, report=None) -> dict:
    """Times per row and condition; ``report(times, r)`` after every repeat (a table even from a cut-short run)."""
    times = {i: {"alone": [], "contended": []} for i in range(len(rows))}
    for r in range(repeats):
        for i, (entry, variant, command, env) in enumerate(rows):
            for condition in ("alone", "contended"):
                run = timed if condition == "alone" else contended
                times[i][condition].append(run(command, env, timeout))
                print(f"repeat {r + 1}: {entry}, {variant}, {condition}: {times[i][condition][-1]:.1f} s", flush=True)
        if report:
            report(times, r + 1)
    return times


def table(rows, times: dict, repeats: int, loads: tuple) -> str:
    lines = ["# Alone vs. beside a busy 2-thread torch process (issue 29)", "",
             f"Null-text inversion, 20 steps x 5 inner iterations, embedded model; {platform.machine()}, "
             f"{os.cpu_count()} CPUs; medians of {repeats} interleaved runs; load average before / after: "
             f"{loads[0]:.1f} / {loads[1]:.1f}. Written by `python benchmarks/contention.py`.", "",
             "| entry point | threads | alone (s) | contended (s) | contended / alone |", "|---|---|---|---|---|"]
    for i, (entry, variant, _, _) in enumerate(rows):
        alone, busy = statistics.median(times[i]["alone"]), statistics.median(times[i]["contended"])
        lines.append(f"| {entry} | {variant} | {alone:.1f} | {busy:.1f} | {busy / alone:.1f}x |")  # inf: stopped
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--timeout", type=float, default=400.0, help="seconds before a run is stopped (shown as inf)")
    p.add_argument("--only", default=None, help="comma-separated row numbers (0-based) to run")
    p.add_argument("--out", type=Path, default=HERE / "contention.md")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "image.png"
        prompt = subprocess.run([sys.executable, "-c", SETUP.format(path=str(image))], env=clean_env(), check=True,
                                capture_output=True, text=True).stdout.strip()
        rows = entries(image, prompt, Path(tmp) / "out")
        if args.only:
            rows = [rows[int(i)] for i in args.only.split(",")]
        before = os.getloadavg()[0]

        def report(times, done):
            args.out.write_text(table(rows, times, done, (before, os.getloadavg()[0])))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the background load is killed too
        measure(rows, args.repeats, args.timeout, report)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
