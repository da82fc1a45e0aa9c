"""Training with a wall-clock budget (``--minutes``, train/budget.py), on a fake clock so that the numbers are exact:
every optimiser step costs a fixed number of fake seconds and nothing else does."""
import contextlib
import csv
import io
import json

import pytest
import torch

from nti_edu.models import load_model
from nti_edu.train import budget, loop
from nti_edu.train.__main__ import config_from_args, parse_args
from nti_edu.train.config import TrainConfig
from nti_edu.train.loop import learning_rate
from nti_edu.train.run import train


class FakeClock:
    """budget.clock() reads ``now``; each optimiser step adds ``step_seconds(stage name, steps it did)``."""

    def __init__(self, monkeypatch, step_seconds):
        self.now, self.calls, self.step_seconds = 1000.0, {}, step_seconds
        real_optimise = loop.optimise

        def optimise(stage, *args):
            self.calls[stage.name] = self.calls.get(stage.name, 0) + 1
            self.now += self.step_seconds(stage.name, self.calls[stage.name])
            return real_optimise(stage, *args)

        monkeypatch.setattr(budget, "clock", lambda: self.now)
        monkeypatch.setattr(loop, "optimise", optimise)


def budget_config(out_dir, minutes=2.0, steps=(1000, 1000, 1000)) -> TrainConfig:
    cfg = TrainConfig.smoke_test(str(out_dir))
    cfg.vae_steps, cfg.unet_steps, cfg.decoder_steps = steps
    cfg.minutes, cfg.calibration_steps = minutes, 8  # 3 untimed + 8 timed steps per stage
    return cfg


def log_rows(run_dir, stage):
    with open(run_dir / f"{stage}_log.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory):
    """2 minutes, 1 s per step: 114 s to train (5% kept for the export), shared 0.2 : 0.7 : 0.1."""
    tmp, printed = tmp_path_factory.mktemp("budget"), io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(printed):
        clock = FakeClock(monkeypatch, lambda name, k: 1.0)
        train(budget_config(tmp / "run"), export_to=tmp / "model")
    return tmp, clock, printed.getvalue()


def test_budget_fits_each_stage_and_records_it(budget_run):
    """The VAE gets 0.2 x 114 = 22.8 s: 11 steps measured (11 s), then 97% of the 11.8 s left fits 11 more, 22 in
    all. The UNet gets 0.7 / 0.8 of the 92 s then left (80.5 s): 11 + floor(0.97 x 69.5) = 78. The decoder gets the
    last 14 s: 11 + floor(0.97 x 3) = 13."""
    tmp, clock, printed = budget_run
    assert clock.calls == {"vae": 22, "unet": 78, "decoder": 13}
    assert "vae: 1 s/step measured over 8 steps; 22 of 1000 requested steps fit in 22.8 s" in printed
    assert "unet: 1 s/step measured over 8 steps; 78 of 1000 requested steps fit in 80.5 s" in printed
    assert "decoder: 1 s/step measured over 8 steps; 13 of 1000 requested steps fit in 14.0 s" in printed
    training = json.loads((tmp / "model" / "model_index.json").read_text())["training"]
    assert (training["vae_steps"], training["unet_steps"], training["decoder_steps"]) == (22, 78, 13)
    assert training["minutes"] == 2.0
    assert training["seconds_per_step"] == {"vae": 1.0, "unet": 1.0, "decoder": 1.0}
    assert training["fitted_steps"] == {"vae": 22, "unet": 78, "decoder": 13}
    assert training["requested_steps"] == {"vae": 1000, "unet": 1000, "decoder": 1000}
    for stage, steps in (("vae", 22), ("unet", 78), ("decoder", 13)):
        state = torch.load(tmp / "run" / f"{stage}.pt", weights_only=False)
        assert state["step"] == steps and state["extra"]["fitted_steps"] == steps
    assert load_model(str(tmp / "model")).latent_shape == (4, 16, 16)


def test_learning_rate_ends_at_the_fitted_total(budget_run):
    """The cosine runs to the fitted total, not to the 1000 requested: the last step's learning rate is ~10% of the
    peak (3e-3), where the requested total would still give ~100%."""
    tmp, _, _ = budget_run
    for stage, total, peak in (("vae", 22, 3e-3), ("unet", 78, 3e-3), ("decoder", 13, 2e-4)):
        last = log_rows(tmp / "run", stage)[-1]
        assert int(last["step"]) == total - 1
        assert float(last["lr"]) == pytest.approx(learning_rate(total - 1, peak, 5, total), rel=5e-3)
    unet_last = float(log_rows(tmp / "run", "unet")[-1]["lr"])
    assert unet_last == pytest.approx(0.1 * 3e-3, rel=0.01)  # 0.1004 x peak at step 77 of 78
    assert learning_rate(77, 3e-3, 5, 1000) > 0.98 * 3e-3  # the requested total's schedule at that step


def test_the_same_command_again_does_not_retrain(budget_run, monkeypatch):
    tmp, _, _ = budget_run
    rows = {stage: len(log_rows(tmp / "run", stage)) for stage in ("vae", "unet", "decoder")}
    clock = FakeClock(monkeypatch, lambda name, k: 1.0)
    train(budget_config(tmp / "run"), export_to=tmp / "again")
    assert clock.calls == {}
    assert rows == {stage: len(log_rows(tmp / "run", stage)) for stage in rows}
    training = json.loads((tmp / "again" / "model_index.json").read_text())["training"]
    assert (training["vae_steps"], training["unet_steps"], training["decoder_steps"]) == (22, 78, 13)


def test_a_slowed_stage_stops_at_its_deadline_and_resumes_to_its_fit(tmp_path, monkeypatch, capsys):
    """No decoder stage: the VAE gets 0.2 / 0.9 of 114 s (25.3 s), is fitted at 1 s/step to 11 + floor(0.97 x 14.3)
    = 24 steps, then slows to 3 s/step: it stops at its deadline after step 16 (26 s), checkpointed. The same
    command again goes on to the fitted 24 (the UNet, finished, is not retrained), on the same schedule."""
    clock = FakeClock(monkeypatch, lambda name, k: 3.0 if name == "vae" and k > 11 else 1.0)
    cfg = budget_config(tmp_path / "run", steps=(1000, 12, 0))
    train(cfg)
    assert clock.calls == {"vae": 16, "unet": 12}
    state = torch.load(tmp_path / "run" / "vae.pt", weights_only=False)
    assert state["step"] == 16 and state["extra"]["fitted_steps"] == 24
    assert "vae: past its deadline at step 16 of 24; checkpoint saved" in capsys.readouterr().out
    clock.calls = {}
    train(cfg)
    assert clock.calls == {"vae": 8}
    assert "vae: resuming towards the fitted 24 of 1000 requested steps" in capsys.readouterr().out
    rows = log_rows(tmp_path / "run", "vae")
    assert int(rows[-1]["step"]) == 23
    assert float(rows[-1]["lr"]) == pytest.approx(learning_rate(23, 3e-3, 5, 24), rel=5e-3)


def test_a_saved_fit_holds_only_for_the_same_request_under_a_budget(capsys):
    """Same request with a budget: the saved fit, no new calibration. Another request, or no budget (then exactly the
    step-based run): the fit is dropped from what the checkpoints will carry, and the requested count rules."""
    from nti_edu.train.budget import StepFit
    from nti_edu.train.loop import Stage

    def stage(requested):
        fit = {"fitted_steps": 22, "requested_steps": 1000, "seconds_per_step": 1.0, "measured_steps": 8}
        return Stage("vae", {}, None, requested, 1, 1.0, 0, extra_state={"scaling_factor": 0.5} | fit)

    same = StepFit(stage(1000), 16, 50.0, 20)
    assert (same.total, same.fitted, same.stage.extra_state["fitted_steps"]) == (22, True, 22)
    for requested, deadline in ((2000, 50.0), (1000, None)):
        other = StepFit(stage(requested), 16, deadline, 20)
        assert (other.total, other.fitted, other.stage.extra_state) == (requested, False, {"scaling_factor": 0.5})
    assert "the fitted 22 steps were for 1000 requested; going on from step 16 towards 2000" in capsys.readouterr().out


@pytest.mark.parametrize("field, value, message", [
    ("minutes", -1.0, r"--minutes must be a number >= 0 \(0: no budget"),
    ("unet_share", 0.0, r"unet_share must be > 0 .*got unet_share=0.0"),
    ("vae_share", float("nan"), r"vae_share must be > 0"),
    ("budget_reserve", 1.0, r"budget_reserve must be in \[0, 1\)"),
    ("calibration_steps", 0, r"calibration_steps must be >= 1"),
])
def test_bad_budget_is_a_clear_error(tmp_path, field, value, message):
    cfg = budget_config(tmp_path / "run")
    setattr(cfg, field, value)
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "run").exists()  # checked before anything is written


def test_cli_takes_the_budget():
    cfg = config_from_args(parse_args(["--smoke", "--minutes", "4.5", "--unet-share", "0.8"]))
    assert (cfg.minutes, cfg.unet_share, cfg.vae_share, cfg.decoder_share) == (4.5, 0.8, 0.2, 0.1)
    assert TrainConfig().minutes == 0.0  # no budget unless asked for


def test_options_given_as_zero_are_applied():
    """--decoder-steps 0 or --prompt-dropout 0 mean zero, not "not given" (0 == False in Python)."""
    cfg = config_from_args(parse_args(["--smoke", "--decoder-steps", "0", "--prompt-dropout", "0", "--vae-locality",
                                       "0", "--budget-reserve", "0"]))
    assert (cfg.decoder_steps, cfg.prompt_dropout, cfg.vae_locality, cfg.budget_reserve) == (0, 0.0, 0.0, 0.0)
    assert config_from_args(parse_args(["--smoke"])).decoder_steps == TrainConfig.smoke_test("x").decoder_steps == 10
