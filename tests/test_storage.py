"""Saving and loading inversion results: exact round trips, model checks, atomic writes."""
import json
import os

import pytest
import torch

from nti_edu.alternatives import direct_inversion, negative_prompt_inversion
from nti_edu.editing import edit
from nti_edu.null_text import null_text_inversion
from nti_edu.p2p import LocalBlend, WordSwap
from nti_edu.storage import SETTINGS, TENSORS, check_compatible, load_result, read_settings, save_result

PROMPT = "a red circle"


@pytest.fixture(scope="module")
def image(tiny_model):
    s = tiny_model.image_size
    return torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(7))


@pytest.fixture(scope="module")
def nti(tiny_model, image):
    return null_text_inversion(tiny_model, image, PROMPT, num_steps=4, num_inner_steps=2, progress=False)


class OtherModel:
    """Stands for a different model: the same fingerprint with another name."""

    def __init__(self, model):
        self.model = model

    def fingerprint(self):
        return self.model.fingerprint() | {"name": "another-model"}


def assert_same(a, b):
    assert (a.method, a.prompts, a.num_steps, a.w, a.losses, a.seconds, a.settings) == \
           (b.method, b.prompts, b.num_steps, b.w, b.losses, b.seconds, b.settings)
    for x, y in zip(a.latents + a.emb_null + [a.emb_cond], b.latents + b.emb_null + [b.emb_cond], strict=True):
        assert torch.equal(x, y)
    assert (a.corrections is None) == (b.corrections is None)
    for x, y in zip(a.corrections or [], b.corrections or [], strict=True):
        assert torch.equal(x, y)


def test_round_trip_is_exact_for_every_method(tiny_model, image, nti, tmp_path):
    results = [nti, negative_prompt_inversion(tiny_model, image, PROMPT, num_steps=3),
               direct_inversion(tiny_model, image, PROMPT, num_steps=3)]
    for k, result in enumerate(results):
        folder = save_result(result, tmp_path / str(k), tiny_model)
        assert sorted(os.listdir(folder)) == [SETTINGS, TENSORS]  # no temporary files left
        assert_same(result, load_result(folder, tiny_model))
    settings = read_settings(tmp_path / "0")
    assert settings["model"] == json.loads(json.dumps(tiny_model.fingerprint()))
    assert settings["method"] == "null-text" and settings["nti_edu_version"] and not settings["emb_null_shared"]
    assert read_settings(tmp_path / "1")["emb_null_shared"]  # negative-prompt: one embedding stored once


def test_edit_after_load_equals_edit_in_memory(tiny_model, nti, tmp_path):
    def controller():
        return WordSwap(tiny_model.tokenizer, PROMPT, "a blue circle", 4, local_blend=LocalBlend("red", "blue"))

    in_memory = edit(tiny_model, nti, "a blue circle", controller=controller(), progress=False)
    loaded = load_result(save_result(nti, tmp_path, tiny_model), tiny_model)
    from_disk = edit(tiny_model, loaded, "a blue circle", controller=controller(), progress=False)
    for a, b in zip(in_memory, from_disk):
        assert torch.equal(a, b)


def test_another_model_is_refused(tiny_model, nti, tmp_path):
    save_result(nti, tmp_path, tiny_model)
    check_compatible(read_settings(tmp_path), tiny_model)  # the same model passes
    with pytest.raises(ValueError, match="made with the model .* not with 'another-model'.*differ in: name"):
        check_compatible(read_settings(tmp_path), OtherModel(tiny_model))
    with pytest.raises(ValueError, match="invert the image again"):
        load_result(tmp_path, OtherModel(tiny_model))


def test_interrupted_saves_leave_no_partial_result(tiny_model, nti, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no saved inversion"):
        load_result(tmp_path / "missing")
    # 1. interrupted before any rename: nothing appears, no temporary file is left
    real_replace = os.replace

    def fail_on(call):
        calls = []

        def replace(src, dst):
            calls.append(dst)
            if len(calls) == call:
                raise KeyboardInterrupt
            real_replace(src, dst)
        return replace

    monkeypatch.setattr(os, "replace", fail_on(1))
    with pytest.raises(KeyboardInterrupt):
        save_result(nti, tmp_path / "a", tiny_model)
    assert os.listdir(tmp_path / "a") == []
    # 2. interrupted between the two renames while overwriting: the mismatched pair is refused
    monkeypatch.setattr(os, "replace", real_replace)
    save_result(nti, tmp_path / "b", tiny_model)
    monkeypatch.setattr(os, "replace", fail_on(2))
    with pytest.raises(KeyboardInterrupt):
        save_result(nti, tmp_path / "b", tiny_model)
    assert sorted(os.listdir(tmp_path / "b")) == [SETTINGS, TENSORS]
    with pytest.raises(ValueError, match="incomplete save"):
        load_result(tmp_path / "b")
