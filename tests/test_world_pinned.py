"""Issue 37: the world grew animals and a style through a separate sampling path; every existing seed
must still give exactly the scenes, prompts, pixels and masks it gave before (the notebooks' checked
outputs, the assignments, the reports and the shipped model's training data depend on it).

The digests were computed from the world as it was before issue 37 (commit dabad60).
"""
import hashlib

import numpy as np
import torch

from nti_edu.world import EDIT_KINDS, heldout_seeds, make_batch, random_edit, render_edit, train_seeds

BEFORE_ISSUE_37 = {
    "heldout 200": "100ff5a57e7742eee260ea85a095d744c1021f34bee7dfece818a26bac9d86ca",
    "train 200": "18d11d0f7fa410b20f9023573da21b12beb839ab1b0702d913034f29e2e5afc6",
    "unet stage 100": "f3e96fc2a62512c6c7165de7431fa8b11e1d8a2a53305090b00f7ba529b8908b",
    "edits": "6f0257a93845394bbe2b0b7fee018f1db02d7f7c0b3f1f80f76497c9930940c9",
}
OLD_EDIT_KINDS = ("colour swap", "shape swap", "background swap", "add sunglasses")


def batch_digest(seeds) -> str:
    images, prompts, _, masks = make_batch(seeds)
    h = hashlib.sha256((images * 255).round().to(torch.uint8).numpy().tobytes())  # (B, 3, 64, 64) bytes
    h.update("\n".join(prompts).encode())
    for m in masks:
        for name in sorted(m):
            h.update(name.encode())
            h.update(np.packbits(m[name]).tobytes())
    return h.hexdigest()


def edits_digest() -> str:
    h = hashlib.sha256()
    for kind in OLD_EDIT_KINDS:
        for s in range(20):
            edit = random_edit(kind, np.random.default_rng(s))
            source, target, region = render_edit(edit, s)
            h.update(edit.source_prompt.encode())
            h.update(edit.target_prompt.encode())
            for array in (np.asarray(source), np.asarray(target), np.packbits(region)):
                h.update(array.tobytes())
    return h.hexdigest()


def test_heldout_scenes_unchanged():
    assert batch_digest(heldout_seeds(200)) == BEFORE_ISSUE_37["heldout 200"]


def test_training_scenes_unchanged():
    assert batch_digest(train_seeds(200)) == BEFORE_ISSUE_37["train 200"]
    assert batch_digest(train_seeds(100, start=500_000_000)) == BEFORE_ISSUE_37["unet stage 100"]  # the UNet's base seed


def test_old_edits_unchanged():
    assert set(OLD_EDIT_KINDS) <= set(EDIT_KINDS)
    assert edits_digest() == BEFORE_ISSUE_37["edits"]
