"""The noise schedule as data: betas, alpha_bar and the inference timesteps.

Notation (DESIGN.md): ``alpha_bar[t]`` is the cumulative product of ``1 - beta``, the lecture's alpha_t
(Ho et al. 2020, eq. 4: q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)).

The inference timesteps follow Stable Diffusion 1.x ("leading" spacing with ``steps_offset = 1``):
for 50 steps they are 981, 961, ..., 21, 1. One step past the last one (t < 0) has no entry in
``alpha_bar``; SD uses ``alpha_bar[0]`` there (``set_alpha_to_one = False``), which this module calls
``alpha_bar_final``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

BETA_SCHEDULES = ("scaled_linear", "linear")


def make_betas(kind: str, beta_start: float, beta_end: float, num_train_timesteps: int) -> torch.Tensor:
    """Betas of a "linear" (Ho et al. 2020, sec. 4) or "scaled_linear" (Rombach et al. 2022, SD) schedule."""
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)  # (T,)
    if kind == "scaled_linear":
        root = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float32)
        return root**2  # (T,)
    raise ValueError(f"beta_schedule must be one of {BETA_SCHEDULES}, got {kind!r}")


@dataclass(frozen=True)
class Step:
    """One sampling step from level t to level t_prev (DDIM inversion walks it the other way).

    ``i`` counts the steps from the noisiest (0) on: step i of a trajectory goes from latent i to latent
    i + 1, as every trajectory in nti_edu is stored noisiest first (x_T first, x_0 last).
    """

    i: int
    t: int
    t_prev: int  # t - T / num_steps; below 0 after the last step
    alpha_bar_t: torch.Tensor  # () alpha_bar at t
    alpha_bar_prev: torch.Tensor  # () alpha_bar at t_prev (``alpha_bar_final`` past the last step)


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete noise schedule: ``betas`` and ``alpha_bar`` of shape (T,), plus SD's two conventions."""

    betas: torch.Tensor  # (T,) float32
    alpha_bar: torch.Tensor  # (T,) float32, decreasing from ~1 to ~0
    alpha_bar_final: torch.Tensor  # () value used one step past the last (t < 0)
    steps_offset: int = 1  # SD adds 1 to every inference timestep

    @classmethod
    def create(cls, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
               num_train_timesteps=1000, set_alpha_to_one=False, steps_offset=1) -> "NoiseSchedule":
        """Build a schedule; the defaults are Stable Diffusion 1.x's."""
        betas = make_betas(beta_schedule, beta_start, beta_end, num_train_timesteps)  # (T,)
        alpha_bar = torch.cumprod(1.0 - betas, dim=0)  # (T,)
        final = torch.tensor(1.0) if set_alpha_to_one else alpha_bar[0]
        return cls(betas=betas, alpha_bar=alpha_bar, alpha_bar_final=final, steps_offset=steps_offset)

    @classmethod
    def from_config(cls, config: dict) -> "NoiseSchedule":
        """Read the keys of a diffusers ``scheduler_config.json`` (only the schedule, never the scheduler)."""
        keys = ("beta_schedule", "beta_start", "beta_end", "num_train_timesteps", "set_alpha_to_one", "steps_offset")
        for bad in ("trained_betas", "rescale_betas_zero_snr"):
            if config.get(bad):
                raise ValueError(f"scheduler config option {bad!r} is not supported by nti_edu")
        if config.get("prediction_type", "epsilon") != "epsilon":
            raise ValueError(f"only epsilon-prediction models are supported, got {config['prediction_type']!r}")
        if config.get("timestep_spacing", "leading") != "leading":  # diffusers' DDIMScheduler default: "leading"
            raise ValueError(f"scheduler config timestep_spacing {config['timestep_spacing']!r} is not supported: "
                             "nti_edu places the inference timesteps as Stable Diffusion 1.x does, \"leading\" "
                             "(t = i * T // N + steps_offset); a \"trailing\" or \"linspace\" model would get the "
                             "wrong timesteps")
        return cls.create(**{k: config[k] for k in keys if k in config})

    @classmethod
    def from_file(cls, path: str | Path) -> "NoiseSchedule":
        return cls.from_config(json.loads(Path(path).read_text()))

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alpha_bar.shape[0])

    def max_steps(self) -> int:
        """The largest step count whose timesteps all fall inside the schedule."""
        T = self.num_train_timesteps
        return max(n for n in range(1, T + 1) if (n - 1) * (T // n) + self.steps_offset <= T - 1)

    def check_steps(self, num_steps) -> int:
        """Return ``num_steps`` as an int, or raise a ValueError that says which values are allowed.

        Called once, where a step count enters the package (the public functions and ``timesteps``); ``pairs`` and
        ``steps``, which the loops call, trust their callers.
        """
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= self.max_steps():
            raise ValueError(f"num_steps must be an integer from 1 to {self.max_steps()} (at most "
                             f"{self.max_steps()} DDIM steps for {self.num_train_timesteps} training timesteps), "
                             f"got {num_steps!r}")
        return num_steps

    def step_ratio(self, num_steps: int) -> int:
        return self.num_train_timesteps // num_steps

    def timesteps(self, num_steps: int) -> torch.Tensor:
        """Inference timesteps, from noisiest to cleanest: (num_steps,) int64, e.g. 981, 961, ..., 1 for 50."""
        return self._timesteps(self.check_steps(num_steps))  # a learner's call: checked

    def _timesteps(self, num_steps: int) -> torch.Tensor:
        ratio = self.step_ratio(num_steps)
        ascending = torch.arange(num_steps, dtype=torch.int64) * ratio + self.steps_offset  # (N,)
        return ascending.flip(0)  # (N,)

    def alpha_bar_at(self, t: int) -> torch.Tensor:
        """alpha_bar_t as a 0-d tensor; for t < 0 (one step past the last), ``alpha_bar_final``."""
        return self.alpha_bar[int(t)] if t >= 0 else self.alpha_bar_final

    def pairs(self, num_steps: int) -> list[tuple[int, int]]:
        """(t, t_prev) for every sampling step, noisiest first; inversion walks the same pairs backwards."""
        ratio = self.step_ratio(num_steps)
        return [(int(t), int(t) - ratio) for t in self._timesteps(num_steps)]

    def steps(self, num_steps: int) -> list["Step"]:
        """Every sampling step t -> t_prev, noisiest first, with the alpha_bar values the DDIM update needs."""
        return [Step(i, t, t_prev, self.alpha_bar_at(t), self.alpha_bar_at(t_prev))
                for i, (t, t_prev) in enumerate(self.pairs(num_steps))]

    def to_config(self) -> dict:
        """The fields that identify this schedule (saved beside inversions, so edits can check them)."""
        return {"num_train_timesteps": self.num_train_timesteps, "steps_offset": self.steps_offset,
                "alpha_bar_first": float(self.alpha_bar[0]), "alpha_bar_last": float(self.alpha_bar[-1]),
                "alpha_bar_final": float(self.alpha_bar_final)}
