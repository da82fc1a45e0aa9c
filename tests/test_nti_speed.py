"""benchmarks/nti_speed.py, run as a script on the CPU (the GPU section's code on a test-sized UNet, --quick),
and its machinery in nti_edu.report: the official loop it times against, the time budget.

Timings belong to the benchmark; these tests check its bookkeeping and the numbers it must agree on."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nti_edu.null_text import optimize_nulls, pivots
from nti_edu.report import timing
from nti_edu.report.official import official_loop

ROOT = Path(__file__).resolve().parents[1]
REFERENCE, READABLE = "official loop (reference)", "readable loop (null_text.py)"


def table_rows(text: str, title_part: str) -> dict:
    """The rows of the markdown table whose title contains ``title_part``: name -> cells."""
    section = text.split(title_part, 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:] if cells[0] != "---"}


def test_the_official_loop_is_algorithm_1(tiny_model):
    """The reference the speed is measured against runs the same algorithm as the readable loop: the same losses."""
    image = torch.rand(1, 3, tiny_model.image_size, tiny_model.image_size, generator=torch.Generator().manual_seed(0))
    pivotal = pivots(tiny_model, image, "a red circle", num_steps=3)
    ref_nulls, ref_losses = official_loop(tiny_model, pivotal.latents, pivotal.emb_cond, num_inner_steps=2,
                                          early_stop_eps=None)
    nulls, losses = optimize_nulls(tiny_model, pivotal.latents, pivotal.emb_cond, num_steps=3, num_inner_steps=2,
                                   early_stop_eps=None, progress=False)
    assert timing.loss_difference(ref_losses, losses) < 1e-4 and [len(h) for h in ref_losses] == [2, 2, 2]
    assert all(torch.allclose(a, b, atol=1e-3) for a, b in zip(ref_nulls, nulls))  # Adam magnifies round-off
    assert not any(p.requires_grad for p in tiny_model.unet.parameters())  # the weights are frozen again


@pytest.mark.full
def test_the_script_on_the_cpu(tmp_path):
    out = tmp_path / "speed.md"
    proc = subprocess.run([sys.executable, "benchmarks/nti_speed.py", "--device", "cpu", "--quick", "--sd15-unet",
                           "tiny", "--threads", "2", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    rows = table_rows(text, "test-sized UNet")
    assert list(rows)[:3] == [REFERENCE, "fast, bf16 weights, CUDA graphs", READABLE]  # the ratio that matters first
    assert rows[REFERENCE][4] == "1.00x"
    assert "failed: ValueError: cuda_graph=True needs the model on a CUDA device" in rows[list(rows)[1]][-1]
    assert float(rows[REFERENCE][5]) < 1e-5 and float(rows[READABLE][5]) == 0.0  # the same float32 algorithm
    assert rows[REFERENCE][6] == rows[READABLE][6] == rows["fast, fp32, eager"][6]
    rows = table_rows(text, "One image, the embedded model")
    assert list(rows)[:2] == [REFERENCE, READABLE] and len(rows) == 8
    assert all(re.fullmatch(r"\d+\.\d\dx", cells[4]) for cells in rows.values())
    db = [float(cells[6]) for name, cells in rows.items() if "bf16" not in name]
    assert max(db) - min(db) < 0.01  # every float32 configuration reconstructs the same image
    assert "| 2 |" in text.split("## Batched")[-1] and "**not judged: this run is 5 x 2" in text


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_row_starts_only_if_its_estimate_fits_the_budget(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)  # timed() reads the same clock
    runs = timing.Runs("cpu", timing.Budget(10.0, clock))

    def takes(seconds):
        def fn():
            clock.now += seconds
            return [], [[1.0]]
        return fn

    runs.run("a", takes(6.0))  # nothing measured yet: estimate 0, runs
    runs.run("b", takes(1.0))  # estimate 6 (the slowest so far) > 4 left: not run
    assert runs.times["a"][0][0] == 6.0 and "b" not in runs.times
    assert runs.notes["b"] == "not run: time budget (4 s left)"
    runs.run("a", takes(6.0))  # its own last time, 6 s, does not fit either
    assert len(runs.times["a"]) == 1
    assert timing.Budget().allows(1e9) and not timing.Budget(1.0, clock).allows(1.5)


def test_a_budget_must_be_positive():
    proc = subprocess.run([sys.executable, "benchmarks/nti_speed.py", "--out", "x.md", "--budget", "0"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--budget must be a positive number of seconds, got 0.0" in proc.stderr


def test_bench_lowers_the_weights_and_restores_them_exactly(tmp_path):
    from nti_edu.testing.random_init import sd15_shaped_model

    model, _ = sd15_shaped_model("cpu", tmp_path, unet="tiny")
    before = {k: v.clone() for k, v in model.unet.state_dict().items()}
    bench = timing.Bench(model, timing.Runs("cpu"), None, None, "sd15", None)  # judge=None: never called
    bench.set_dtype(torch.bfloat16)
    assert model.dtype == torch.bfloat16
    bench.judge_pending()  # never judges with lowered weights (judge=None would raise)
    bench.set_dtype(torch.float32)
    assert all(torch.equal(before[k], v) for k, v in model.unet.state_dict().items())
