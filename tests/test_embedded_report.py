"""nti_edu.report.timing.cpu_timings (benchmarks/embedded_model.py's CPU timings) on the tiny random model: the
traced UNet call gives the eager call's output (the timings themselves are the report's, not asserted here)."""
import torch

from nti_edu.report import timing


def test_cpu_timings_trace_matches_eager(tiny_model):
    image = torch.rand(1, 3, tiny_model.image_size, tiny_model.image_size)
    t = timing.cpu_timings(tiny_model, image, "a red circle", repeats=2)
    assert t["traced_same"] is True
    assert t["unet_ms"] > 0 and t["traced_ms"] > 0 and t["invert_50_s"] > 0 and len(t["load"]) == 3


def test_median_ms_counts_only_the_measured_calls():
    calls = []
    timing.median_ms(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7
