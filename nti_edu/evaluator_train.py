"""Training and measuring the attribute evaluator (``python -m nti_edu.evaluator_train --train --evaluate``).

Images come fresh from the world at every step (a new seed per image, never a held-out one). The
augmentation imitates what a small diffusion model's VAE gives back: blur, a lower resolution,
noise and slightly shifted colours, so that the evaluator judges generated images fairly.

``--new-kinds P`` (issue 37) trains the grown evaluator (animals, the painting style) on batches in which
a share P of the images come from the grown world's path, and ``--evaluate`` then also measures it there.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .evaluator import ASSET_DIR, IGNORE, AttributeNet, Evaluator, load_evaluator, scene_labels
from .world import TRAIN_SEED_LIMIT, heldout_seeds, make_batch


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, size: int = 7) -> torch.Tensor:
    """Blur each image with its own Gaussian: images (B, C, H, W), sigma (B,) in pixels."""
    B, C, H, W = images.shape
    x = torch.arange(size, dtype=torch.float32) - size // 2  # (k,)
    kernel = torch.exp(-x**2 / (2 * sigma.clamp_min(0.05)[:, None] ** 2))  # (B, k)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(C, 0)  # (B*C, k)
    flat = F.pad(images.reshape(1, B * C, H, W), [size // 2] * 4, mode="replicate")  # (1, B*C, H+k-1, W+k-1)
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=B * C)  # vertical pass
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=B * C)  # horizontal pass
    return flat.reshape(B, C, H, W)


def down_up(images: torch.Tensor, side: int) -> torch.Tensor:
    """Lose detail as a VAE does: shrink to side x side and enlarge back (bilinear)."""
    small = F.interpolate(images, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=images.shape[-2:], mode="bilinear", align_corners=False)


def augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random blur (half the images, sigma 0.3 to 1.6), down-up sampling (a fifth), colour gain and
    offset (every image, +-6 % and +-0.03), noise (half, std up to 0.05)."""
    B = images.shape[0]
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731  uniform in [0, 1)
    sigma = torch.where(u(B) < 0.5, 0.3 + 1.3 * u(B), torch.zeros(B))  # (B,)
    images = gaussian_blur(images, sigma)
    shrink = u(B) < 0.2
    if shrink.any():
        images[shrink] = down_up(images[shrink], side=int(20 + 20 * u(1).item()))  # 20 to 39 pixels
    gain, offset = 1 + 0.12 * (u(B, 3, 1, 1) - 0.5), 0.06 * (u(B, 3, 1, 1) - 0.5)  # +-6 %, +-0.03
    noise = torch.randn(images.shape, generator=gen) * 0.05 * u(B, 1, 1, 1) * (u(B, 1, 1, 1) < 0.5)
    return (images * gain + offset + noise).clamp(0, 1)  # (B, 3, 64, 64)


def loss_fn(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
    """The sum over heads of the cross-entropy, each averaged over the images its slot applies to."""
    total = 0.0
    for name, y in labels.items():
        n = (y != IGNORE).sum().clamp_min(1)
        total = total + F.cross_entropy(logits[name], y, ignore_index=IGNORE, reduction="sum") / n
    return total


def train(out: str | Path, steps: int = 4000, batch_size: int = 64, seed: int = 0, lr: float = 3e-3,
          new_kinds: float = 0.0, init_from: str | Path | None = None) -> Path:
    """Train from scratch on fresh world images; save ``model.safetensors`` and ``config.json`` in ``out``.

    ``new_kinds`` > 0: the grown evaluator, on batches with that share of issue 37's scenes.
    ``init_from``: an evaluator folder to start from instead (``warm_start_net``).
    """
    torch.manual_seed(seed)
    gen, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    architecture = {"width": 32, "hidden": 128} | ({"grown": True} if new_kinds > 0 else {})
    net = AttributeNet(**architecture).to(memory_format=torch.channels_last)  # faster convolutions on CPU
    if init_from is not None:
        warm_start_net(net, load_evaluator(init_from).net)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start, bar = time.time(), tqdm(range(steps), desc="evaluator")
    for _ in bar:
        seeds = rng.integers(0, TRAIN_SEED_LIMIT, batch_size)
        images, _, scenes, _ = make_batch(seeds, new_kinds=new_kinds)  # (B, 3, 64, 64)
        images = augment(images, gen).contiguous(memory_format=torch.channels_last)
        loss = loss_fn(net(images), scene_labels(scenes, net.classes))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
    record = {"steps": steps, "batch_size": batch_size, "seed": seed, "lr": lr, "minutes": (time.time() - start) / 60}
    record |= ({"new_kinds": new_kinds} if new_kinds > 0 else {}) | ({"init_from": str(init_from)} if init_from else {})
    return save(net, Path(out), {"architecture": architecture, "training": record})


@torch.no_grad()
def warm_start_net(net: AttributeNet, trained: AttributeNet) -> None:
    """Copy ``trained``'s weights into ``net`` (issue 37: today's evaluator into a grown one): every layer
    as it is, a head with more classes in its first rows (the grown kind head: shape, face, then animal);
    heads ``trained`` lacks keep their fresh initialisation."""
    state = net.state_dict()
    for name, value in trained.state_dict().items():
        if value.ndim == 0:  # BatchNorm's num_batches_tracked
            state[name].copy_(value)
        else:
            state[name][:len(value)] = value  # a head's (n_old, hidden) weights and (n_old,) bias: the first rows
    net.load_state_dict(state)


def save(net: AttributeNet, out: Path, config: dict) -> Path:
    """Weights as float16 safetensors (half the size; the evaluator runs in float32) and a JSON config."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    weights = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}
    save_file(weights, out / "model.safetensors")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out


def accuracy(evaluator: Evaluator, images: torch.Tensor, prompts: list[str]) -> dict[str, float]:
    """Every-attribute accuracy ("all") and each attribute's own accuracy, as fractions."""
    judged = evaluator.judge(images, prompts)
    names = sorted({name for j in judged for name in j})
    result = {"all": float(np.mean([all(j.values()) for j in judged]))}
    return result | {name: float(np.mean([j[name] for j in judged if name in j])) for name in names}


def report(evaluator: Evaluator, n: int = 1000, start: int = 0, new_kinds: float = 0.0) -> dict[str, dict[str, float]]:
    """Accuracy on ``n`` held-out images: clean; 3x3 box blur; 64 -> 32 -> 64 bilinear; and a Gaussian
    blur (sigma 1 pixel) with Gaussian noise (std 0.05), which is harsher than a good VAE's round trip.
    ``new_kinds``: the share of issue 37's scenes among them (0: today's held-out images).
    """
    images, prompts, _, _ = make_batch(heldout_seeds(n, start), new_kinds=new_kinds)  # (n, 3, 64, 64)
    box = F.avg_pool2d(F.pad(images, [1] * 4, mode="replicate"), 3, stride=1)  # (n, 3, 64, 64)
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(start)) * 0.05
    blur_noise = (gaussian_blur(images, torch.ones(n)) + noise).clamp(0, 1)  # (n, 3, 64, 64)
    degraded = {"clean": images, "box_blur_3x3": box, "down_up_32": down_up(images, 32),
                "blur_1_noise_0.05": blur_noise}
    return {name: accuracy(evaluator, x, prompts) for name, x in degraded.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="train or measure the world's attribute evaluator")
    parser.add_argument("--train", action="store_true", help="train from scratch and save the weights")
    parser.add_argument("--evaluate", action="store_true", help="measure accuracy on held-out images")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=3e-3, help="the one-cycle schedule's peak")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-eval", type=int, default=1000, help="held-out images for --evaluate")
    parser.add_argument("--out", type=Path, default=ASSET_DIR)
    parser.add_argument("--init-from", type=Path, default=None, help="start from this evaluator folder's weights")
    parser.add_argument("--new-kinds", type=float, default=0.0,
                        help="share of issue 37's scenes (animals, paintings): trains the grown evaluator")
    args = parser.parse_args(argv)
    if not (args.train or args.evaluate):
        parser.error("give --train and/or --evaluate")
    if args.train:
        train(args.out, steps=args.steps, batch_size=args.batch_size, seed=args.seed, new_kinds=args.new_kinds,
              init_from=args.init_from, lr=args.lr)
    if args.evaluate:
        result = report(load_evaluator(args.out), n=args.n_eval)
        if args.new_kinds > 0:  # the grown evaluator: today's held-out images, then issue 37's alone
            result = {"today's world": result, "grown world": report(load_evaluator(args.out), args.n_eval, 0, 1.0)}
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
