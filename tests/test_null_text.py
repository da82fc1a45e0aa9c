"""Null-text inversion (Mokady et al. 2023, Algorithm 1) on the tiny random SD-shaped components."""
import copy

import pytest
import torch
from diffusers import DDIMScheduler

from nti_edu.inversion import invert, resample
from nti_edu.models.sd15 import SD_SCHEDULER_CONFIG
from nti_edu.null_text import NullTextConfig, global_null_text_inversion, null_text_inversion, pivots, tune_null
from nti_edu.reconstruction import reconstruct_latents

PROMPTS = ["a red circle", "a blue square"]
SD_CONFIG = {k: v for k, v in SD_SCHEDULER_CONFIG.items() if not k.startswith("_")}


def images(model, n, seed=0):
    s = model.image_size
    return torch.rand(n, 3, s, s, generator=torch.Generator().manual_seed(seed))


def official_prev_step(model, scheduler, t, latent_cur, eps_cond, uncond, w):
    """The official notebook's guided ``prev_step`` with the null embedding ``uncond``, DDIMScheduler doing it."""
    eps_uncond = model.predict_eps(latent_cur, int(t), uncond)
    return scheduler.step(eps_uncond + w * (eps_cond - eps_uncond), t, latent_cur).prev_sample


def official_update(optimizer, rec, pivot) -> float:
    """One Adam update on the official loss, F.mse_loss(rec, pivot); returns the loss's value."""
    loss = torch.nn.functional.mse_loss(rec, pivot)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def official_null_optimization(model, latents, emb_cond, num_inner_steps: int, early_stop_epsilon: float, w=7.5):
    """The official notebook's ``NullInversion.null_optimization`` (google/prompt-to-prompt), transcribed for one
    image, with diffusers' DDIMScheduler doing its ``prev_step``: the oracle Algorithm 1 must equal.
    Returns (the tuned null embedding per step, each step's losses)."""
    scheduler = DDIMScheduler(**SD_CONFIG)
    scheduler.set_timesteps(len(latents) - 1)
    uncond, latent_cur, nulls, histories = model.null_embedding(1), latents[0], [], []
    for i, t in enumerate(scheduler.timesteps):
        uncond = uncond.clone().detach().requires_grad_(True)
        optimizer = torch.optim.Adam([uncond], lr=1e-2 * (1.0 - i / 100.0))
        with torch.no_grad():
            eps_cond = model.predict_eps(latent_cur, int(t), emb_cond)
        histories.append([])
        for _ in range(num_inner_steps):
            rec = official_prev_step(model, scheduler, t, latent_cur, eps_cond, uncond, w)
            histories[-1].append(official_update(optimizer, rec, latents[i + 1]))
            if histories[-1][-1] < early_stop_epsilon + i * 2e-5:
                break
        nulls.append(uncond.detach())
        with torch.no_grad():
            latent_cur = official_prev_step(model, scheduler, t, latent_cur, eps_cond, uncond, w)
    return nulls, histories


@pytest.mark.parametrize("early_stop", [False, True])
def test_algorithm_1_equals_the_official_loop(model64, early_stop):
    """Every step's tuned embedding and loss history, against the official loop (float64, so that only the
    algorithm is compared): a wrong learning-rate decay, early stop, start embedding or order of the three
    parts of a step changes the embeddings by 1e-4 or more."""
    x = images(model64, 1, seed=5).double()
    pivotal = pivots(model64, x, PROMPTS[0], num_steps=5)
    first = null_text_inversion(model64, x, PROMPTS[0], num_steps=5, num_inner_steps=1, progress=False)
    eps = first.losses[2][0] if early_stop else 0.0  # the threshold where some steps stop early, some do not
    ours = null_text_inversion(model64, x, PROMPTS[0], num_steps=5, num_inner_steps=4, early_stop_eps=eps,
                               progress=False)
    nulls, histories = official_null_optimization(model64, pivotal.latents, pivotal.emb_cond, 4, eps)
    assert [len(h) for h in ours.losses] == [len(h) for h in histories]
    if early_stop:
        assert {len(h) for h in histories} != {4}  # the early stop did stop some steps
    for i in range(5):
        assert torch.allclose(torch.tensor(ours.losses[i]), torch.tensor(histories[i]), rtol=1e-9, atol=0), i
        assert (ours.emb_null[i] - nulls[i]).abs().max() <= 1e-9, i


def test_no_tuning_is_ddim_inversion_at_w1_sampled_at_w(tiny_model):
    """With 0 inner iterations the null embedding stays "": the w = 1 inversion sampled at w = 7.5."""
    x = images(tiny_model, 2)
    untuned = null_text_inversion(tiny_model, x, PROMPTS, num_steps=4, num_inner_steps=0, progress=False)
    plain = invert(tiny_model, x, PROMPTS, num_steps=4, w=1.0)
    assert torch.equal(untuned.x_T, plain.x_T)
    back = resample(tiny_model, plain, w=7.5)[-1]
    assert (reconstruct_latents(tiny_model, untuned)[-1] - back).abs().max() <= 1e-6


def test_shapes_dtypes_and_bookkeeping(tiny_model):
    calls = []
    result = null_text_inversion(tiny_model, images(tiny_model, 2), PROMPTS, num_steps=3, num_inner_steps=2,
                                 progress=False, callback=lambda i, losses: calls.append((i, list(losses))))
    null = tiny_model.null_embedding(2)
    assert result.method == "null-text" and result.prompts == PROMPTS and result.w == 7.5
    assert len(result.latents) == 4 and len(result.emb_null) == 3 and len(result.losses) == 3
    for e in result.emb_null:
        assert e.shape == null.shape and e.dtype == torch.float32 and not e.requires_grad
    assert calls == [(i, result.losses[i]) for i in range(3)]
    assert result.seconds > result.settings["pivot_seconds"] > 0
    assert result.settings["num_inner_steps"] == 2 and result.settings["w_invert"] == 1.0


def test_inner_loop_alone_gives_the_first_steps_embedding(tiny_model):
    """tune_null, the notebook's inner loop, is exactly step 0 of Algorithm 1."""
    x = images(tiny_model, 1)
    result = null_text_inversion(tiny_model, x, PROMPTS[0], num_steps=3, num_inner_steps=3, progress=False)
    pivotal = pivots(tiny_model, x, PROMPTS[0], num_steps=3)
    step = tiny_model.schedule.steps(3)[0]
    with torch.no_grad():
        eps_cond = tiny_model.predict_eps(pivotal.x_T, step.t, pivotal.emb_cond)
    tuned, losses = tune_null(tiny_model, step, pivotal.x_T, eps_cond, tiny_model.null_embedding(1),
                              pivotal.latents[1], NullTextConfig(num_steps=3, num_inner_steps=3))
    assert torch.equal(tuned, result.emb_null[0]) and losses == result.losses[0]


def test_batch_of_two_equals_two_single_runs_with_per_image_early_stop(tiny_model):
    """Each image keeps its own embedding, loss and early stop. Run in float64: in float32, batched and
    single UNet calls differ by round-off, which Adam's division by sqrt(v) + eps blows up to ~1e-4 in
    the padding tokens' embeddings, whose gradients are ~1e-8; in float64 the runs agree to 1e-9."""
    model = copy.deepcopy(tiny_model).to(dtype=torch.float64)
    x = images(model, 2, seed=3)
    first = [null_text_inversion(model, x[k:k + 1], PROMPTS[k], num_steps=4, num_inner_steps=1,
                                 progress=False).losses[0][0] for k in range(2)]
    assert max(first) > 1.05 * min(first)
    eps = min(first) + 0.25 * (max(first) - min(first))  # one image stops after one iteration at step 0, one goes on
    kwargs = dict(num_steps=4, num_inner_steps=4, early_stop_eps=eps, progress=False)
    single = [null_text_inversion(model, x[k:k + 1], PROMPTS[k], **kwargs) for k in range(2)]
    assert sorted(len(s.losses[0]) for s in single) == [1, 4]
    batch = null_text_inversion(model, x, PROMPTS, **kwargs)
    assert batch.emb_null[0].dtype == torch.float64
    for i in range(4):
        for k in range(2):
            assert (batch.emb_null[i][k] - single[k].emb_null[i][0]).abs().max() <= 1e-9, (i, k)


def test_nan_during_optimisation_names_the_step(tiny_model, monkeypatch):
    t_bad = tiny_model.schedule.pairs(4)[2][0]
    original = tiny_model.predict_eps

    def poisoned(x_t, t, emb):
        eps = original(x_t, t, emb)
        return eps * float("nan") if t == t_bad and emb.requires_grad else eps

    monkeypatch.setattr(tiny_model, "predict_eps", poisoned)
    with pytest.raises(FloatingPointError, match=f"step 2 \\(t = {t_bad}\\).*NaN"):
        null_text_inversion(tiny_model, images(tiny_model, 1), PROMPTS[0], num_steps=4, num_inner_steps=2,
                            progress=False)


def official_global_null(model, latents, emb_cond, num_epochs: int, w=7.5, lr=1e-2):
    """The paper's ablation (sec. 4) written out plainly: one null embedding, one Adam, one update per step of
    every epoch along the guided trajectory from z*_T, with diffusers' DDIMScheduler as the DDIM step."""
    scheduler = DDIMScheduler(**SD_CONFIG)
    scheduler.set_timesteps(len(latents) - 1)
    uncond = model.null_embedding(1).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([uncond], lr=lr)
    for _ in range(num_epochs):
        latent_cur = latents[0]
        for i, t in enumerate(scheduler.timesteps):
            with torch.no_grad():
                eps_cond = model.predict_eps(latent_cur, int(t), emb_cond)
            official_update(optimizer, official_prev_step(model, scheduler, t, latent_cur, eps_cond, uncond, w),
                            latents[i + 1])
            with torch.no_grad():
                latent_cur = official_prev_step(model, scheduler, t, latent_cur, eps_cond, uncond, w)
    return uncond.detach()


def test_global_null_text_embedding_equals_the_ablation_written_out(model64):
    x = images(model64, 1, seed=6).double()
    result = global_null_text_inversion(model64, x, PROMPTS[0], num_steps=4, num_epochs=3, progress=False)
    assert result.method == "global-null-text" and len(result.emb_null) == 4
    assert all(torch.equal(e, result.emb_null[0]) for e in result.emb_null)
    assert [len(h) for h in result.losses] == [3] * 4
    reference = official_global_null(model64, result.latents, result.emb_cond, num_epochs=3)
    assert (result.emb_null[0] - reference).abs().max() <= 1e-9


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_steps=101), "at most 100 steps"), (dict(lr=0.0), "lr must be"),
    (dict(num_inner_steps=-1), "num_inner_steps"), (dict(early_stop_eps=float("nan")), "early_stop_eps"),
    (dict(w=-1.0), "guidance weight")])
def test_bad_settings_raise(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        null_text_inversion(tiny_model, images(tiny_model, 1), PROMPTS[0], progress=False, **kwargs)
