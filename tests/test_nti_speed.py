"""benchmarks/nti_speed.py on the CPU: the GPU section's code on a test-sized UNet, the time budget, and the
report rewritten after every phase (so that a device call cut short keeps what it measured).

Timings belong to the benchmark; these tests check its bookkeeping and the numbers it must agree on."""
import re

import pytest
import torch

from benchmark_scripts import load_benchmark

speed = load_benchmark("nti_speed")


def table_rows(text: str, title_part: str) -> dict:
    """The rows of the markdown table whose title contains ``title_part``: name -> cells."""
    section = text.split(title_part, 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:] if cells[0] != "---"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("speed") / "speed.md"
    text = speed.main(["--device", "cpu", "--quick", "--sd15-unet", "tiny", "--threads", "2", "--out", str(out)])
    assert out.read_text() == text
    return text


def test_the_gpu_section_runs_its_rows_in_priority_order_on_a_tiny_unet(quick_report):
    rows = table_rows(quick_report, "test-sized UNet")
    names = list(rows)
    assert names[:3] == [speed.REFERENCE, speed.TARGET, speed.READABLE]  # the ratio that matters comes first
    assert rows[speed.REFERENCE][4] == "1.00x"
    # graph rows need CUDA: reported in the table, not fatal
    assert "failed: ValueError: cuda_graph=True needs the model on a CUDA device" in rows[speed.TARGET][-1]
    # the same float32 algorithm: loss curves agree, and each result is judged with the float32 weights
    assert float(rows[speed.REFERENCE][5]) < 1e-5 and float(rows[speed.READABLE][5]) == 0.0
    assert rows[speed.REFERENCE][6] == rows[speed.READABLE][6] == rows["fast, fp32, eager"][6]
    bf16 = rows["fast, bf16 weights, eager"]  # ran with bf16 weights, judged after they were restored
    assert 1e-4 < float(bf16[5]) < 0.2 and abs(float(bf16[6]) - float(rows[speed.READABLE][6])) < 0.5


def test_the_embedded_section_on_the_cpu(quick_report):
    rows = table_rows(quick_report, "One image, the embedded model")
    assert list(rows)[:2] == [speed.REFERENCE, speed.READABLE] and len(rows) == 9
    assert all(re.fullmatch(r"\d+\.\d\dx", cells[4]) for cells in rows.values())
    db = [float(cells[6]) for name, cells in rows.items() if "bf16" not in name]
    assert max(db) - min(db) < 0.01  # every float32 configuration reconstructs the same image
    assert "## Per inner iteration" in quick_report and "| 2 |" in quick_report.split("## Batched")[-1]
    target = quick_report.split("Target: 50 x 10", 1)[1].split("\n", 1)[0]  # judged only on a 50 x 10 run
    assert f"({speed.CPU_DEFAULT}): " in target and "**not judged: this run is 5 x 2" in target


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_row_starts_only_if_its_estimate_fits_the_budget(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(speed.time, "perf_counter", clock)  # timed() reads the same clock
    runs = speed.Runs("cpu", speed.Budget(10.0, clock))

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
    assert speed.Budget().allows(1e9) and not speed.Budget(1.0, clock).allows(1.5)


def test_the_report_keeps_the_first_phases_when_a_later_one_is_cut_short(tmp_path, monkeypatch):
    """As when the shell's timeout stops the process mid-row: what the first phases measured is on disk."""
    def cut(*args, **kwargs):
        def stop():
            raise KeyboardInterrupt
        return [("fast, fp32, eager", stop, "")]

    monkeypatch.setattr(speed, "cuda_fp32_rows", cut)
    out = tmp_path / "cut.md"
    with pytest.raises(KeyboardInterrupt):
        speed.main(["--device", "cpu", "--quick", "--sd15-unet", "tiny", "--skip-embedded", "--out", str(out)])
    text = out.read_text()
    rows = table_rows(text, "test-sized UNet")
    assert list(rows)[:3] == [speed.REFERENCE, speed.TARGET, speed.READABLE] and "fast, fp32, eager" not in rows
    assert "| 2 |" in text.split("## Batched")[1]  # the batched runs came before the cut
    assert rows[speed.REFERENCE][4] == "1.00x" and float(rows[speed.REFERENCE][6]) == float(rows[speed.READABLE][6])
    assert not (tmp_path / "cut.md.tmp").exists()


def test_bench_lowers_the_weights_and_restores_them_exactly(tmp_path):
    model, _ = speed.sd15_shaped_model("cpu", tmp_path, unet="tiny")
    before = {k: v.clone() for k, v in model.unet.state_dict().items()}
    bench = speed.Bench(model, speed.Runs("cpu"), None, None, "sd15", "title", 10)  # judge=None: never called
    bench.set_dtype(torch.bfloat16)
    assert model.dtype == torch.bfloat16
    bench.judge_pending()  # never judges with lowered weights (judge=None would raise)
    bench.set_dtype(torch.float32)
    assert all(torch.equal(before[k], v) for k, v in model.unet.state_dict().items())


def test_a_budget_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        speed.parse_args(["--out", "x.md", "--budget", "0"])
    assert "--budget must be a positive number of seconds, got 0.0" in capsys.readouterr().err
