"""The world's stand-in for CLIP score: a small CNN that reads a scene's attributes off an image.

For real photographs, papers judge "does the edited image show the target prompt?" with CLIP. Here
the world is synthetic, so a classifier trained on it can say exactly which attributes an image
shows: one head per attribute slot (kind, shape, colour, size, position, background, sunglasses,
hat). ``judge`` compares those with the attributes a prompt names; ``matches`` asks that all agree.

Train it with ``python -m nti_edu.evaluator_train --train`` (``evaluator_train.py``); the package
ships the trained weights in ``nti_edu/assets/evaluator/``.

Issue 37's grown evaluator (``AttributeNet(grown=True)``, trained with ``--new-kinds``) has the heads
``GROWN_HEADS``: a third kind, "animal", and two more slots, the animal (dog, cat) and the style (none,
abstract painting), which it reads on every image. Its config.json says ``"grown": true``.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from .world import (ANIMAL_COLOURS, ANIMAL_SIZES, ANIMALS, COLOURS, FACE_COLOURS, IMAGE_SIDE, POSITIONS, SHAPES, SIZES,
                    STYLES, Scene, parse_prompt)

ASSET_DIR = Path(__file__).resolve().parent / "assets" / "evaluator"

# each head classifies one attribute slot; None is a class of its own where a slot may be empty
HEADS: dict[str, tuple] = {
    "kind": ("shape", "face"),
    "shape": SHAPES,
    "colour": tuple(COLOURS),
    "size": tuple(SIZES),
    "position": tuple(POSITIONS),
    "background": tuple(COLOURS),
    "sunglasses": (False, True),
    "hat": (None,) + tuple(COLOURS),
}
SHAPE_ONLY, FACE_ONLY = ("shape", "size", "position"), ("sunglasses", "hat")
GROWN_HEADS: dict[str, tuple] = HEADS | {"kind": ("shape", "face", "animal"), "animal": ANIMALS,
                                         "style": (None,) + STYLES}  # issue 37
SLOTS = {"shape": set(HEADS) - set(FACE_ONLY), "face": set(HEADS) - set(SHAPE_ONLY),  # slots each kind has;
         "animal": {"kind", "animal", "colour", "size", "position", "background"}}  # "style": every kind
IGNORE = -100  # label of a slot that does not apply to the scene (cross_entropy's ignore_index)


def conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class AttributeNet(nn.Module):
    """Six convolutions, four of them strided, down to a 4x4 map; one shared hidden layer; a linear
    head per slot. The 4x4 map is flattened (not averaged) so that the heads can see where the object is.
    """

    def __init__(self, width: int = 32, hidden: int = 128, grown: bool = False):
        super().__init__()
        w, self.classes = width, GROWN_HEADS if grown else HEADS  # the heads: slot -> its classes
        self.features = nn.Sequential(
            conv_block(3, w, 2), conv_block(w, w, 1),  # (B, w, 32, 32)
            conv_block(w, 2 * w, 2), conv_block(2 * w, 2 * w, 1),  # (B, 2w, 16, 16)
            conv_block(2 * w, 2 * w, 2), conv_block(2 * w, 2 * w, 2))  # (B, 2w, 4, 4)
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 16, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, len(classes)) for name, classes in self.classes.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(self.features(images * 2 - 1))  # (B, hidden)
        return {name: head(h) for name, head in self.heads.items()}  # name -> (B, n_classes)


def scene_labels(scenes: Sequence[Scene], heads: dict = HEADS) -> dict[str, torch.Tensor]:
    """Class indices per head, IGNORE where a slot does not apply: name -> (B,) int64."""
    labels = {name: [] for name in heads}
    for scene in scenes:
        for name, classes in heads.items():
            applies = name in SLOTS[scene.kind] or name == "style"
            labels[name].append(classes.index(getattr(scene, name)) if applies else IGNORE)
    return {name: torch.tensor(values) for name, values in labels.items()}


COLOUR_PAIRS = [(c, b) for c, b in itertools.product(COLOURS, COLOURS) if c != b]  # (colour, background)
FACE_TRIPLES = [(c, b, h) for c, b, h in itertools.product(FACE_COLOURS, COLOURS, HEADS["hat"])
                if c != b and h not in (c, b)]  # (face colour, background, hat)
ANIMAL_PAIRS = [(c, b) for c, b in COLOUR_PAIRS if c in ANIMAL_COLOURS]  # (animal colour, background)


def _best(logp: dict[str, dict], slots: Sequence[str], candidates) -> dict:
    """The candidate values of ``slots`` with the highest summed log-probability."""
    best = max(candidates, key=lambda values: sum(logp[s][v] for s, v in zip(slots, values)))
    return dict(zip(slots, best))


def decode(logp: dict[str, torch.Tensor]) -> Scene:
    """The most likely valid scene for one image, from its per-head log-probabilities (name -> (n,)).

    Each head's argmax could break a rule of the world (a red circle on a red background), so the
    colours are chosen jointly among the valid combinations.
    """
    heads = GROWN_HEADS if "animal" in logp else HEADS
    logp = {name: dict(zip(heads[name], lp.tolist())) for name, lp in logp.items()}  # name -> {class: logp}
    argmax = {name: max(lp, key=lp.get) for name, lp in logp.items()}
    if argmax["kind"] == "shape":
        colours = _best(logp, ("colour", "background"), COLOUR_PAIRS)
        return Scene("shape", shape=argmax["shape"], size=argmax["size"], position=argmax["position"], **colours)
    if argmax["kind"] == "animal":
        return _decode_animal(logp, argmax)
    style = argmax.get("style")
    triples = FACE_TRIPLES if style is None else [t for t in FACE_TRIPLES if t[2] is None]  # no painted hat
    colours = _best(logp, ("colour", "background", "hat"), triples)
    return Scene("face", sunglasses=argmax["sunglasses"], style=style, **colours)


def _decode_animal(logp: dict[str, dict], argmax: dict) -> Scene:
    """An animal scene: the colours jointly, the size among an animal's sizes, the rest by argmax."""
    colours = _best(logp, ("colour", "background"), ANIMAL_PAIRS)
    size = _best(logp, ("size",), [(s,) for s in ANIMAL_SIZES])["size"]
    return Scene("animal", animal=argmax["animal"], size=size, position=argmax["position"], **colours)


def check_images(images: torch.Tensor) -> None:
    """Refuse anything but a (B, 3, 64, 64) float tensor in [0, 1] (a decoder's overshoot of 0.01 is let in)."""
    expected = f"(B, 3, {IMAGE_SIDE}, {IMAGE_SIDE})"
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"expected a tensor of shape {expected}, got {type(images).__name__}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, IMAGE_SIDE, IMAGE_SIDE) or images.shape[0] == 0:
        raise ValueError(f"expected images of shape {expected} with values in [0, 1], got {tuple(images.shape)}")
    in_range = torch.isfinite(images).all() and images.min() >= -0.01 and images.max() <= 1.01
    if not images.is_floating_point() or not in_range:
        raise ValueError("expected finite float images with values in [0, 1] (not [-1, 1] or 0..255)")


class Evaluator:
    """Judges whether images show what prompts say (this world's CLIP score)."""

    def __init__(self, net: AttributeNet):
        self.net = net.eval().to(memory_format=torch.channels_last)  # faster convolutions on CPU
        self.device = next(net.parameters()).device

    @torch.no_grad()
    def log_probs(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-head log-probabilities: name -> (B, n_classes)."""
        check_images(images)
        x = images.float().clamp(0, 1).to(self.device).contiguous(memory_format=torch.channels_last)  # (B, 3, 64, 64)
        return {name: out.log_softmax(-1).cpu() for name, out in self.net(x).items()}

    def predict(self, images: torch.Tensor) -> list[Scene]:
        """The scene each image shows: images (B, 3, 64, 64) in [0, 1] -> B scenes."""
        logp = self.log_probs(images)
        return [decode({name: lp[i] for name, lp in logp.items()}) for i in range(images.shape[0])]

    def judge(self, images: torch.Tensor, prompts: str | Sequence[str]) -> list[dict[str, bool]]:
        """For each image, each attribute its prompt names: is it shown? [{attribute: bool}, ...]"""
        check_images(images)
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if len(prompts) != images.shape[0]:
            raise ValueError(f"got {images.shape[0]} images but {len(prompts)} prompts; give one prompt per image")
        wanted = [parse_prompt(p) for p in prompts]
        for want, prompt in zip(wanted, prompts):
            self.check_readable(want, prompt)
        return [{name: getattr(seen, name) == value for name, value in want.attributes().items()}
                for want, seen in zip(wanted, self.predict(images))]

    def can_read(self, scene: Scene) -> bool:
        """Do this evaluator's heads read every attribute the scene's prompt names? (The evaluator shipped before
        issue 37 has no animal or style heads.)"""
        return all(name in self.net.classes and value in self.net.classes[name]
                   for name, value in scene.attributes().items())

    def check_readable(self, scene: Scene, prompt: str) -> None:
        if not self.can_read(scene):
            raise ValueError(f"this evaluator cannot read {prompt!r}: its heads know kinds "
                             f"{self.net.classes['kind']} and no animal or style; the grown evaluator (issue 37) does")

    def matches(self, images: torch.Tensor, prompts: str | Sequence[str]) -> torch.Tensor:
        """(B,) bool: does each image show every attribute of its prompt?"""
        return torch.tensor([all(j.values()) for j in self.judge(images, prompts)])

    def fidelity(self, images: torch.Tensor, prompts: str | Sequence[str]) -> float:
        """The fraction of images that show every attribute of their prompt."""
        return self.matches(images, prompts).float().mean().item()


def load_evaluator(folder: str | Path = ASSET_DIR, device: str = "cpu") -> Evaluator:
    """The trained evaluator from ``folder`` (the shipped one by default); no network needed."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"no evaluator weights in {folder}; train them with "
                                f"`python -m nti_edu.evaluator_train --train --out {folder}`")
    config = json.loads((folder / "config.json").read_text())  # architecture: width, hidden (and grown)
    net = AttributeNet(**config["architecture"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(folder / "model.safetensors").items()}
    net.load_state_dict(state)
    return Evaluator(net.to(device))
