"""Inputs are checked once, at the boundary: one ``nti-edu invert`` (or one library call) runs each rule once.

The rules are counted by wrapping the functions that hold them, wherever a module imported them:
``check_guidance`` (w), ``NoiseSchedule.check_steps`` (num_steps against the model's schedule),
``NullTextConfig.__post_init__`` (the settings of Algorithm 1: num_steps <= 100, w, N, lr, early stop),
``check_count`` (num_inner_steps) and ``check_eta``.
"""
import sys
from collections import Counter

import pytest
import torch

from nti_edu import ddim, guidance, null_text
from nti_edu.cli import main
from nti_edu.images import tensor_to_pil
from nti_edu.null_text import NullTextConfig, null_text_inversion
from nti_edu.schedule import NoiseSchedule

PROMPT = "a red circle"


@pytest.fixture
def counted(monkeypatch):
    """Count each rule's calls, and the values it was called with: {rule: Counter(value)}."""
    calls = {}

    def wrap(owner, name, rule, value_of):
        original = getattr(owner, name)

        def counting(*args, **kwargs):
            calls.setdefault(rule, Counter())[value_of(*args)] += 1
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, counting)

    rules = [("check_guidance", guidance.check_guidance, "w", lambda w: w),
             ("check_count", null_text.check_count, "count", lambda name, value, minimum: name),
             ("check_eta", ddim.check_eta, "eta", lambda eta: eta)]  # the originals, before any is wrapped
    for module in [m for n, m in list(sys.modules.items()) if n.startswith("nti_edu") and m is not None]:
        for name, original, rule, value_of in rules:
            if getattr(module, name, None) is original:
                wrap(module, name, rule, value_of)
    wrap(NoiseSchedule, "check_steps", "schedule steps", lambda self, n: n)
    wrap(NullTextConfig, "__post_init__", "config", lambda self: (self.num_steps, self.w))
    return calls


def test_one_nti_edu_invert_checks_each_input_once(tiny_model_dir, tmp_path, counted):
    image = tmp_path / "in.png"
    tensor_to_pil(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))).save(image)
    assert main(["invert", str(image), "--prompt", PROMPT, "--model", str(tiny_model_dir), "--steps", "3",
                 "--guidance", "7.5", "--inner-steps", "1", "--out", str(tmp_path / "out"), "-q"]) == 0
    assert counted["config"] == Counter({(3, 7.5): 1})  # NullTextConfig made once: num_steps <= 100, w, lr, ...
    assert counted["w"] == Counter({7.5: 1})  # w: once (inside the config)
    assert counted["count"] == Counter({"num_inner_steps (0 = no tuning)": 1})  # N: once (inside the config)
    assert counted["schedule steps"] == Counter({3: 1})  # num_steps against the model's schedule: once
    assert "eta" not in counted  # no DDIM step checks eta


def test_one_library_call_checks_each_input_once(tiny_model, counted):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    result = null_text_inversion(tiny_model, images, [PROMPT] * 2, num_steps=2, w=3.0, num_inner_steps=1,
                                 progress=False)
    assert len(result.emb_null) == 2
    assert counted["config"] == Counter({(2, 3.0): 1})
    assert counted["w"] == Counter({3.0: 1})
    assert counted["schedule steps"] == Counter({2: 1})


def test_a_given_config_is_not_checked_again(tiny_model, counted):
    config = NullTextConfig(num_steps=2, w=3.0, num_inner_steps=1)
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    null_text_inversion(tiny_model, images, PROMPT, config, progress=False)
    assert counted["config"] == Counter({(2, 3.0): 1})  # made once, above; never re-made below
    assert counted["w"] == Counter({3.0: 1})


def test_eta_is_checked_once_per_sampling_call(tiny_model, counted):
    from nti_edu.sampling import sample

    emb = tiny_model.encode_prompt(PROMPT)  # (1, L, D)
    x_T = torch.randn(1, *tiny_model.latent_shape, generator=torch.Generator().manual_seed(0))
    sample(tiny_model, x_T, emb, num_steps=4, w=2.0, eta=0.5, generator=torch.Generator().manual_seed(1))
    assert counted["eta"] == Counter({0.5: 1})  # once for 4 steps
    assert counted["w"] == Counter({2.0: 1})
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        sample(tiny_model, x_T, emb, num_steps=4, w=2.0, eta=-1.0)


def test_pivots_of_another_length_are_refused(tiny_model):
    from nti_edu.null_text import optimize_nulls, pivots

    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    pivotal = pivots(tiny_model, images, PROMPT, num_steps=3)
    with pytest.raises(ValueError, match="got 4 pivots for num_steps = 2"):
        optimize_nulls(tiny_model, pivotal.latents, pivotal.emb_cond, num_steps=2, progress=False)
    latents = [pivotal.latents[0]] * 102  # 101 steps' worth: the learning rate would go negative
    with pytest.raises(ValueError, match="at most 100 steps"):
        optimize_nulls(tiny_model, latents, pivotal.emb_cond, num_steps=101, progress=False)
