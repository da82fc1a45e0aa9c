"""One training loop for both stages: AdamW, warm-up + cosine learning rate, EMA, logs, resumable."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from .budget import Budget, StepFit
from .checkpoint import load_checkpoint, module_states, restore_modules, save_checkpoint
from .data import batches, step_generator


@dataclass
class Stage:
    """What a stage trains and how: ``loss_fn(images, prompts, generator) -> scalar loss``."""

    name: str
    modules: dict  # name -> nn.Module, the trained modules
    loss_fn: Callable
    steps: int
    batch_size: int
    lr: float
    base_seed: int  # first world seed of this stage's batches
    ema_names: tuple = ()  # modules that also keep an exponential moving average
    extra_state: dict = field(default_factory=dict)  # saved with the checkpoint (e.g. the VAE scaling factor)


def learning_rate(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to 10% of it at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def rewarm(stage: Stage, step: int, warmup: int) -> float:
    """After a warm start (fresh Adam moments at ``restart_step``), a second linear warm-up; else 1."""
    restart = stage.extra_state.get("restart_step")
    return 1.0 if restart is None else min(1.0, (step - restart + 1) / warmup)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model, with d warmed up as min(decay, (1 + step) / (10 + step))."""
    d = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - d)


def train_stage(stage: Stage, cfg, run_dir: Path, budget: Budget | None = None) -> dict:
    """Train (or resume) one stage to ``stage.steps``; return its final state (modules, EMA, extras).

    With a ``budget`` (``--minutes``), to the step count that fits in the stage's share of it (budget.py).
    """
    ckpt_path = run_dir / f"{stage.name}.pt"
    params = [p for m in stage.modules.values() for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=stage.lr, weight_decay=0.0)
    ema = {n: copy.deepcopy(stage.modules[n]).requires_grad_(False) for n in stage.ema_names}
    start = done = resume(ckpt_path, stage, opt, ema)
    fit = StepFit(stage, start, budget and budget.deadline(stage.name), cfg.calibration_steps)
    log = open_log(run_dir / f"{stage.name}_log.csv")
    t0, loader = time.perf_counter(), batches(stage.batch_size, start, fit.total, stage.base_seed, cfg.num_workers,
                                           getattr(cfg, "new_kinds", 0.0))
    bar = tqdm(loader, total=fit.total, initial=start, desc=f"train {stage.name}")
    for step, (images, prompts) in enumerate(bar, start=start):
        lr = learning_rate(step, stage.lr, cfg.warmup_steps, fit.total) * rewarm(stage, step, cfg.warmup_steps)
        loss = optimise(stage, opt, params, lr, images.to(cfg.device), prompts, step_generator(cfg.seed, step, cfg.device))
        for n, e in ema.items():
            update_ema(e, stage.modules[n], cfg.ema_decay, step)
        bar.set_postfix(loss=f"{loss:.4f}")
        done, last = step + 1, fit.after(step + 1)
        bar.total = fit.total  # the fitted total, once calibrated
        if step % cfg.log_every == 0 or last:
            log.write(f"{step},{loss:.6f},{lr:.3g},{time.perf_counter() - t0:.1f}\n")
            log.flush()
        if (step + 1) % cfg.checkpoint_every == 0 or last:
            save_checkpoint(ckpt_path, stage_state(stage, opt, ema, step + 1))
        if last:
            break
    bar.close()
    loader.close()  # its DataLoader workers stop here, also when the stage ended before its last batch
    log.close()
    return stage_state(stage, opt, ema, done)


def open_log(path: Path):
    """The stage's loss log, appended to when resuming (its header written once)."""
    new_log = not path.exists() or path.stat().st_size == 0
    log = path.open("a")
    if new_log:
        log.write("step,loss,lr,seconds\n")
    return log


def optimise(stage: Stage, opt, params, lr: float, images, prompts, generator) -> float:
    """One optimiser step on one batch; returns the loss as a float."""
    for group in opt.param_groups:
        group["lr"] = lr
    loss = stage.loss_fn(images, prompts, generator)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"stage {stage.name}: the loss became {loss.item()}; lower the learning rate")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()


def stage_state(stage: Stage, opt, ema: dict, step: int) -> dict:
    return {"step": step, "modules": module_states(stage.modules), "ema": module_states(ema),
            "optimizer": opt.state_dict(), "extra": stage.extra_state}


def resume(path: Path, stage: Stage, opt, ema: dict) -> int:
    """Load a stage's checkpoint if there is one; return the step to continue from."""
    state = load_checkpoint(path)
    if state is None:
        return 0
    restore_modules(stage.modules, state["modules"])
    restore_modules(ema, state["ema"])
    opt.load_state_dict(state["optimizer"])
    stage.extra_state.update(state["extra"])
    print(f"resuming {stage.name} from step {state['step']} ({path})")
    return state["step"]
