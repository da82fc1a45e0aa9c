"""The synthetic world as batches: batch k always holds the same examples, so training can resume."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from ..world import TRAIN_SEED_LIMIT, make_batch


class WorldBatches(Dataset):
    """Batch k is drawn from world seeds [base + k * B, base + (k + 1) * B), all below TRAIN_SEED_LIMIT."""

    def __init__(self, batch_size: int, base_seed: int = 0, new_kinds: float = 0.0):
        self.batch_size, self.base_seed, self.new_kinds = batch_size, base_seed, new_kinds

    def __len__(self) -> int:
        return (TRAIN_SEED_LIMIT - self.base_seed) // self.batch_size

    def __getitem__(self, k: int):
        start = self.base_seed + k * self.batch_size
        images, prompts = make_batch(range(start, start + self.batch_size), new_kinds=self.new_kinds)[:2]
        return images, list(prompts)  # (B, 3, 64, 64) in [0, 1], B strings


def batches(batch_size: int, first_step: int, last_step: int, base_seed: int = 0, num_workers: int = 0,
            new_kinds: float = 0.0):
    """Yield (images, prompts) for steps first_step .. last_step - 1, drawn by ``num_workers`` processes."""
    loader = DataLoader(WorldBatches(batch_size, base_seed, new_kinds), batch_size=None, num_workers=num_workers,
                        sampler=range(first_step, last_step), persistent_workers=False,
                        prefetch_factor=4 if num_workers else None)
    yield from loader


def step_generator(seed: int, step: int, device) -> torch.Generator:
    """The random stream for one training step (noise, timesteps, prompt dropout), fixed by (seed, step)."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)
