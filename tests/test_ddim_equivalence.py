"""Our hand-written schedule, DDIM step, sampler and inversion against diffusers' schedulers (the oracle)."""
import pytest
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

from nti_edu.ddim import ddim_inverse_step, ddim_step
from nti_edu.guidance import guided_eps
from nti_edu.inversion import ddim_invert
from nti_edu.models.sd15 import SD_SCHEDULER_CONFIG
from nti_edu.sampling import ddim_sample
from nti_edu.schedule import NoiseSchedule

TOL = 1e-5
SD_CONFIG = {k: v for k, v in SD_SCHEDULER_CONFIG.items() if not k.startswith("_")}


def oracle(cls=DDIMScheduler, **overrides):
    return cls(**(SD_CONFIG | overrides))


@pytest.mark.parametrize("kind", ["scaled_linear", "linear"])
def test_schedule_matches_diffusers(kind):
    ours = NoiseSchedule.create(beta_schedule=kind, beta_end=0.012 if kind == "scaled_linear" else 0.02)
    ref = oracle(beta_schedule=kind, beta_end=0.012 if kind == "scaled_linear" else 0.02)
    assert torch.equal(ours.betas, ref.betas)
    assert torch.equal(ours.alpha_bar, ref.alphas_cumprod)
    assert float(ours.alpha_bar_final) == float(ref.final_alpha_cumprod)


@pytest.mark.parametrize("num_steps", [1, 7, 10, 50, 333, 999])
def test_timesteps_match_diffusers(num_steps):
    ref = oracle()
    ref.set_timesteps(num_steps)
    assert torch.equal(NoiseSchedule.create().timesteps(num_steps), ref.timesteps)
    inv = oracle(DDIMInverseScheduler)
    inv.set_timesteps(num_steps)
    assert torch.equal(NoiseSchedule.create().timesteps(num_steps).flip(0), inv.timesteps)


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_single_steps_match_ddim_scheduler(eta):
    schedule, ref = NoiseSchedule.create(), oracle()
    ref.set_timesteps(20)
    g = torch.Generator().manual_seed(1)
    for t, t_prev in schedule.pairs(20):
        x_t, eps, z = (torch.randn(2, 4, 8, 8, generator=g) for _ in range(3))
        ours = ddim_step(x_t, eps, schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev), eta=eta, noise=z)
        theirs = ref.step(eps, t, x_t, eta=eta, variance_noise=z if eta > 0 else None).prev_sample
        assert (ours - theirs).abs().max() <= TOL


def test_single_inverse_steps_match_ddim_inverse_scheduler():
    schedule, ref = NoiseSchedule.create(), oracle(DDIMInverseScheduler)
    ref.set_timesteps(20)
    g = torch.Generator().manual_seed(2)
    for t, t_prev in schedule.pairs(20)[::-1]:
        x_t, eps = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
        ours = ddim_inverse_step(x_t, eps, schedule.alpha_bar_at(t_prev), schedule.alpha_bar_at(t))
        assert (ours - ref.step(eps, t, x_t).prev_sample).abs().max() <= TOL


def _reference_sampling(model, x_T, emb_null, emb_cond, num_steps, w, eta, generator):
    """The loop a diffusers pipeline runs, with DDIMScheduler doing the update."""
    ref = oracle()
    ref.set_timesteps(num_steps)
    x, out = x_T, [x_T]
    for t in ref.timesteps:
        eps_null, eps_cond = model.predict_eps_pair(x, int(t), emb_null, emb_cond)
        x = ref.step(guided_eps(eps_null, eps_cond, w), t, x, eta=eta, generator=generator).prev_sample
        out.append(x)
    return out


@pytest.mark.parametrize("eta", [0.0, 0.7])
@torch.no_grad()
def test_sampling_trajectory_matches_diffusers(tiny_model, eta):
    emb_cond = tiny_model.encode_prompt(["a cat", "a dog"])
    emb_null = tiny_model.null_embedding(2)
    x_T = torch.randn(2, *tiny_model.latent_shape, generator=torch.Generator().manual_seed(3))
    ours = list(ddim_sample(tiny_model, x_T, emb_cond, num_steps=12, w=7.5, emb_null=emb_null, eta=eta,
                            generator=torch.Generator().manual_seed(4)))
    theirs = _reference_sampling(tiny_model, x_T, emb_null, emb_cond, 12, 7.5, eta, torch.Generator().manual_seed(4))
    assert len(ours) == len(theirs) == 13
    assert max((a - b).abs().max().item() for a, b in zip(ours, theirs)) <= TOL


@pytest.mark.parametrize("w", [1.0, 3.0])
@torch.no_grad()
def test_inversion_trajectory_matches_ddim_inverse_scheduler(tiny_model, w):
    emb_cond, emb_null = tiny_model.encode_prompt(["a cat"]), tiny_model.null_embedding(1)
    x_0 = torch.randn(1, *tiny_model.latent_shape, generator=torch.Generator().manual_seed(5))
    ours = ddim_invert(tiny_model, x_0, emb_cond, num_steps=15, w=w, emb_null=emb_null)[::-1]  # cleanest first
    ref = oracle(DDIMInverseScheduler)
    ref.set_timesteps(15)
    x, theirs = x_0, [x_0]
    for t in ref.timesteps:
        eps_null, eps_cond = tiny_model.predict_eps_pair(x, int(t), emb_null, emb_cond)
        x = ref.step(guided_eps(eps_null, eps_cond, w), t, x).prev_sample
        theirs.append(x)
    assert max((a - b).abs().max().item() for a, b in zip(ours, theirs)) <= TOL
