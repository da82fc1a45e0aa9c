"""A wall-clock budget for a training run (``--minutes``): each stage fits its step count to its share of the time.

Why: a lent GPU is held for a few minutes inside one call, and a run that a shell ``timeout`` kills before
its export leaves nothing. Step counts cannot be calibrated beforehand (the GPU's speed is what is to be
measured), so each stage measures its own seconds per step on its first steps and then fixes its total,
and with it its learning-rate schedule, which then ends (cosine down to 10%) when the stage's time does.

The sharing: the run ends its training at ``minutes * (1 - budget_reserve)`` after the start of ``train()``
(the reserve is for the export). When a stage starts, it gets its share of what is left, in the proportions
``vae_share : unet_share : decoder_share`` renormalised over itself and the later stages that still have
steps to run; so what a stage does not use (it finished early, or it was finished before this run), and the
time spent between stages (the scale measurement, building the UNet), fall to the stages after it.

The fit is saved in the stage's checkpoint (``fitted_steps``, with ``requested_steps`` and
``seconds_per_step``), so the same command run again resumes towards the same total and does not retrain a
finished stage; a run that asks for another step count fits again from where the stage stands.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm  # tqdm.write: a line printed while a stage's progress bar is shown goes above it

from .checkpoint import load_checkpoint

UNTIMED_STEPS = 3  # the first steps of a stage are not timed: DataLoader workers starting, kernels autotuning
FIT_MARGIN = 0.97  # the fit plans on 97% of the time left: checkpoints and a noisy machine take the rest
FIT_KEYS = ("fitted_steps", "requested_steps", "seconds_per_step", "measured_steps")


def clock() -> float:
    """Seconds on the wall clock; every budget decision reads this one function, so tests can fake it."""
    return time.perf_counter()


def check_budget(cfg) -> None:
    """A clear error for a budget that cannot be shared: checked before anything trains."""
    if not (math.isfinite(cfg.minutes) and cfg.minutes >= 0):
        raise ValueError(f"--minutes must be a number >= 0 (0: no budget, the step counts rule); got {cfg.minutes}")
    for name in ("vae_share", "unet_share", "decoder_share"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be > 0 (the stages' proportions of --minutes); got {name}={value}")
    if not 0 <= cfg.budget_reserve < 1:
        raise ValueError(f"budget_reserve must be in [0, 1) (the fraction of --minutes kept for the export); "
                         f"got {cfg.budget_reserve}")
    if cfg.calibration_steps < 1:
        raise ValueError(f"calibration_steps must be >= 1 (steps timed to fit each stage); got {cfg.calibration_steps}")


def planned_total(extra: dict, requested: int, budgeted: bool) -> int:
    """The step count a stage trains to: its saved fit if there is a budget and the request is the one it was
    fitted to; else the requested count (without a budget, exactly as without this module)."""
    if budgeted and "fitted_steps" in extra and extra.get("requested_steps") == requested:
        return extra["fitted_steps"]
    return requested


@dataclass
class Budget:
    """The run's training time, shared among the stages that still have steps to run (in their order)."""

    end: float  # clock() time by which the last stage must be done (the reserve comes after it)
    shares: dict  # stage name -> its proportion, only the stages with steps to run, in training order

    @classmethod
    def plan(cls, cfg, run_dir: Path, start: float) -> "Budget | None":
        """None without ``--minutes``; else the budget from ``start`` (the start of ``train()``)."""
        if cfg.minutes == 0:
            return None
        stages = {"vae": (cfg.vae_steps, cfg.vae_share), "unet": (cfg.unet_steps, cfg.unet_share),
                  "decoder": (cfg.decoder_steps, cfg.decoder_share)}
        shares = {name: share for name, (steps, share) in stages.items()
                  if steps_to_run(Path(run_dir) / f"{name}.pt", steps) > 0}
        return cls(end=start + 60 * cfg.minutes * (1 - cfg.budget_reserve), shares=shares)

    def deadline(self, name: str) -> float:
        """This stage's end: its share of what is left, among itself and the stages after it."""
        now = clock()
        if name not in self.shares:  # nothing planned for it: it may use what is left
            return self.end
        names = list(self.shares)
        later = sum(self.shares[n] for n in names[names.index(name):])
        return now + max(0.0, self.end - now) * self.shares[name] / later


def steps_to_run(ckpt_path: Path, requested: int) -> int:
    """How many steps a stage has left, from its checkpoint (none yet: all of them)."""
    state = load_checkpoint(ckpt_path)
    if state is None:
        return requested
    return max(0, planned_total(state["extra"], requested, budgeted=True) - state["step"])


def calibration_window(remaining: int, timed: int) -> tuple[int, int]:
    """(untimed, timed) steps to measure on: 3 and ``timed``, fewer for a stage with few steps left, so that
    the measurement never takes more than about a quarter of them."""
    return min(UNTIMED_STEPS, remaining // 8), max(1, min(timed, remaining // 4))


class StepFit:
    """One stage's step count under a budget: calibrated on its first steps, then fixed; and its hard stop.

    Without a budget (``deadline`` None) it only says when ``stage.steps`` are done. With one, the total is
    the saved fit (same request), or it is fixed after the timed steps as min(requested, steps that fit
    before the deadline). Until then the learning rate uses the requested count as the total: within the
    warm-up (``learning_rate`` is linear there) the total plays no part, so a GPU run whose warm-up (500
    steps) outlasts the 23 calibration steps gets exactly the fitted schedule. Only a stage whose warm-up
    ends before its calibration does (the smoke configuration's 5 steps) runs those few steps at the cosine
    of the requested total, above the fitted one's (by up to 22% in tests/test_train_budget.py's
    22-step VAE), and a stage resumed past its warm-up without a fit goes on at the requested total's rate
    until its fit is fixed. Every stage trains at least one step (the export needs its checkpoint).
    """

    def __init__(self, stage, start: int, deadline: float | None, calibration_steps: int):
        self.stage, self.start, self.deadline = stage, start, deadline
        extra = stage.extra_state
        self.total = planned_total(extra, stage.steps, deadline is not None)
        if extra.get("fitted_steps", self.total) != self.total:  # another step count, or no budget this time
            drop_fit(stage, start)
        self.fitted = deadline is not None and "fitted_steps" in extra
        untimed, timed = calibration_window(max(0, self.total - start), calibration_steps)
        self.timed_from, self.timed_to = start + untimed, start + untimed + timed
        self.t_start = clock()
        self.t_from = self.t_start if untimed == 0 else None
        if self.fitted and start < self.total:
            print(f"{stage.name}: resuming towards the fitted {self.total} of {stage.steps} requested steps")

    def after(self, done: int) -> bool:
        """Called after each step with the number of steps done; True when the stage ends there."""
        if self.deadline is None:
            return done >= self.total
        now = clock()
        if not self.fitted:
            if done == self.timed_from:
                self.t_from = now
            if done >= self.timed_to or now > self.deadline:
                self.fix(done, now)
        if done < self.total and now > self.deadline:
            tqdm.write(f"{self.stage.name}: past its deadline at step {done} of {self.total}; "
                  f"checkpoint saved, the stage ends here")
            return True
        return done >= self.total

    def fix(self, done: int, now: float) -> None:
        """Fix the total from the measured seconds per step; saved with the checkpoint (``stage.extra_state``)."""
        timed = self.t_from is not None and done > self.timed_from
        first, t_first = (self.timed_from, self.t_from) if timed else (self.start, self.t_start)
        per_step = (now - t_first) / (done - first)
        fit = math.floor(FIT_MARGIN * (self.deadline - now) / per_step) if per_step > 0 else self.stage.steps
        self.total = min(self.stage.steps, done + max(0, fit))
        self.fitted = True
        self.stage.extra_state.update(fitted_steps=self.total, requested_steps=self.stage.steps,
                                      seconds_per_step=round(per_step, 6), measured_steps=done - first)
        tqdm.write(f"{self.stage.name}: {per_step:.3g} s/step measured over {done - first} steps; {self.total} of "
              f"{self.stage.steps} requested steps fit in {self.deadline - self.t_start:.1f} s")


def drop_fit(stage, start: int) -> None:
    """Forget a saved fit that no longer holds (another step count asked for, or no budget this time)."""
    print(f"{stage.name}: the fitted {stage.extra_state['fitted_steps']} steps were for "
          f"{stage.extra_state.get('requested_steps')} requested; going on from step {start} towards {stage.steps}")
    for key in FIT_KEYS:
        stage.extra_state.pop(key, None)
