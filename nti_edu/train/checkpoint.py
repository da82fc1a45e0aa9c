"""Resumable checkpoints, written atomically so that an interrupted run never leaves a broken file."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to a temporary name beside ``path``, then rename over it."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict | None:
    """The saved state, or None when there is none yet."""
    return torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None


def module_states(modules: dict) -> dict:
    return {name: m.state_dict() for name, m in modules.items()}


def restore_modules(modules: dict, states: dict) -> None:
    for name, m in modules.items():
        m.load_state_dict(states[name])
