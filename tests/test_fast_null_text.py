"""The fast path (nti_edu.fast) computes what the readable loop (nti_edu.null_text) computes.

CPU tests use the tiny seeded components (and the embedded model when it has been trained); the CUDA
tests (graphs, bf16 on the GPU, the late stop flag) run only where a GPU is present.
"""
import copy

import pytest
import torch

from nti_edu.fast import fast_null_text_inversion
from nti_edu.fast.adam import AdamState, masked_adam_step
from nti_edu.fast.inner import StopFlag
from nti_edu.fast.unet_split import can_split, prompt_free_part, rest_of_unet
from nti_edu.metrics import psnr
from nti_edu.testing.random_init import SD15_UNET_CONFIG, TINY_UNET_CONFIG
from nti_edu.null_text import null_text_inversion
from nti_edu.reconstruction import reconstruct
from nti_edu.train.config import unet_config

PROMPTS = ["a red circle", "a blue square"]
cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def images(model, n, seed=0):
    s = model.image_size
    return torch.rand(n, 3, s, s, generator=torch.Generator().manual_seed(seed))


def largest_differences(a, b):
    """(largest |emb_null| difference over steps, largest relative difference of the loss curves)."""
    assert [len(h) for h in a.losses] == [len(h) for h in b.losses]  # the same early stops
    emb = max((u.double() - v.double()).abs().max().item() for u, v in zip(a.emb_null, b.emb_null))
    loss = max((abs(p - q) / abs(p) for u, v in zip(a.losses, b.losses) for p, q in zip(u, v)), default=0.0)
    return emb, loss


@pytest.fixture(scope="module")
def model64(tiny_model):
    return copy.deepcopy(tiny_model).to(dtype=torch.float64)


def test_masked_adam_is_torch_adam_on_the_active_images():
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    reference = [start[b:b + 1].clone().requires_grad_(True) for b in range(3)]
    optimizer = torch.optim.Adam(reference, lr=0.05)
    param, state = start.clone(), AdamState.like(start)
    active = torch.tensor([True, False, True])
    for k in range(1, 6):
        grad = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) * 10.0 ** -k  # shrinking, as near a minimum
        for b in (0, 2):
            reference[b].grad = grad[b:b + 1]
        optimizer.step()
        state.set_step(k, lr=0.05)
        masked_adam_step(param, grad, state, active)
    assert (param[[0, 2]] - torch.cat([reference[0], reference[2]]).detach()).abs().max() <= 1e-12
    assert torch.equal(param[1], start[1])  # a stopped image keeps its embedding


@pytest.mark.parametrize("config, first_attention", [
    (TINY_UNET_CONFIG, 1), (unet_config(128), 1),
    (SD15_UNET_CONFIG | {"block_out_channels": (32, 64, 64, 64), "cross_attention_dim": 32, "sample_size": 16}, 0)])
def test_split_unet_is_the_full_forward(config, first_attention):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**config).eval().requires_grad_(False)
    side = config["sample_size"]
    x_t, t = torch.randn(2, 4, side, side), torch.tensor([981, 981])
    emb = torch.randn(2, 77, config["cross_attention_dim"], requires_grad=True)
    assert can_split(unet, x_t) and not can_split(unet, x_t[..., :side - 1, :side - 1])
    part = prompt_free_part(unet, x_t, t)
    assert part.num_blocks == first_attention  # the prompt-free down blocks: none in SD 1.5, one here
    split, full = rest_of_unet(unet, part, emb), unet(x_t, t, encoder_hidden_states=emb).sample
    assert torch.equal(split, full)
    (g_split,), (g_full,) = (torch.autograd.grad(out.pow(2).sum(), emb) for out in (split, full))
    assert torch.equal(g_split, g_full)


def early_stop_between(model, x):
    """An early-stop epsilon between two images' first losses: at step 0 one image stops after its first
    iteration while the other goes on (test_null_text.py checks this on single runs)."""
    first = [null_text_inversion(model, x[k:k + 1], PROMPTS[k], num_steps=4, num_inner_steps=1,
                                 progress=False).losses[0][0] for k in range(2)]
    assert max(first) > 1.05 * min(first)
    return min(first) + 0.25 * (max(first) - min(first))


@pytest.mark.parametrize("cache, trace", [(False, False), (True, False), (False, True), (True, True)])
def test_fast_is_the_readable_loop_in_float64_with_per_image_early_stop(model64, cache, trace):
    x = images(model64, 2, seed=3)
    kwargs = dict(num_steps=4, num_inner_steps=4, early_stop_eps=early_stop_between(model64, x), progress=False)
    plain = null_text_inversion(model64, x, PROMPTS, **kwargs)
    fast = fast_null_text_inversion(model64, x, PROMPTS, cache=cache, trace=trace, **kwargs)
    emb, loss = largest_differences(plain, fast)
    assert emb <= 1e-9 and loss <= 1e-12
    assert all(torch.equal(u, v) for u, v in zip(plain.latents, fast.latents))  # the same pivots
    assert fast.settings["fast"] == {"precision": "float64", "cuda_graph": False, "cache": cache,
                                     "channels_last": False, "compile": False, "trace": trace}


def test_batch_of_two_is_two_single_fast_runs(model64):
    x = images(model64, 2, seed=3)
    kwargs = dict(num_steps=4, num_inner_steps=4, early_stop_eps=early_stop_between(model64, x), progress=False)
    batch = fast_null_text_inversion(model64, x, PROMPTS, **kwargs)
    for k in range(2):
        single = fast_null_text_inversion(model64, x[k:k + 1], PROMPTS[k], **kwargs)
        for i in range(4):
            assert (batch.emb_null[i][k] - single.emb_null[i][0]).abs().max() <= 1e-9, (i, k)


def test_everyone_stopping_at_once_ends_each_inner_loop_after_one_iteration(model64):
    x = images(model64, 2)
    kwargs = dict(num_steps=3, num_inner_steps=5, early_stop_eps=1e3, progress=False)
    plain = null_text_inversion(model64, x, PROMPTS, **kwargs)
    fast = fast_null_text_inversion(model64, x, PROMPTS, **kwargs)
    assert [len(h) for h in fast.losses] == [1, 1, 1]
    emb, loss = largest_differences(plain, fast)
    assert emb <= 1e-9 and loss <= 1e-12


@pytest.mark.full  # quality checks (whole inversions, every option): minutes on 2 cores
@pytest.mark.parametrize("options, max_loss_difference, max_psnr_difference", [
    (dict(), 1e-4, 0.01), (dict(channels_last=True), 1e-4, 0.01), (dict(precision="bf16"), 0.1, 0.2)])
def test_float32_and_bf16_agree_with_the_plain_float32_loop(tiny_model, options, max_loss_difference,
                                                            max_psnr_difference):
    """In float32 the runs differ by round-off only; bf16 autocast (on the CPU here) stays within 0.2 dB."""
    model, x = copy.deepcopy(tiny_model), images(tiny_model, 2)  # channels_last changes the weights' layout
    kwargs = dict(num_steps=8, num_inner_steps=5, early_stop_eps=None, progress=False)
    plain, fast = null_text_inversion(tiny_model, x, PROMPTS, **kwargs), fast_null_text_inversion(model, x, PROMPTS,
                                                                                                   **options, **kwargs)
    assert all(e.dtype == torch.float32 for e in fast.emb_null)  # the float32 master copy, also under bf16
    _, loss = largest_differences(plain, fast)
    assert loss <= max_loss_difference
    gap = (psnr(reconstruct(tiny_model, fast), x) - psnr(reconstruct(tiny_model, plain), x)).abs().max().item()
    assert gap <= max_psnr_difference


def test_callback_sees_each_steps_losses_and_they_match_the_result(tiny_model):
    calls = []
    result = fast_null_text_inversion(tiny_model, images(tiny_model, 1), PROMPTS[0], num_steps=3, num_inner_steps=2,
                                      progress=False, callback=lambda i, losses: calls.append((i, list(losses))))
    assert result.method == "null-text" and len(result.emb_null) == 3
    assert calls == [(i, result.losses[i]) for i in range(3)] and all(len(h) == 2 for h in result.losses)
    assert result.seconds > result.settings["pivot_seconds"] > 0


@pytest.mark.parametrize("with_callback", [False, True])
def test_divergence_names_its_step_with_or_without_per_step_reads(tiny_model, with_callback):
    """Without a callback the losses are read once at the end; the error still names the first bad step.
    (Untraced: a trace would record the Python hooks' decision once instead of calling them.)"""
    model = copy.deepcopy(tiny_model)
    t_bad, now = model.schedule.pairs(4)[2][0], {}
    model.unet.time_proj.register_forward_hook(lambda module, args, out: now.update(t=int(args[0][0])))
    model.unet.conv_out.register_forward_hook(
        lambda module, args, out: out * float("nan") if now["t"] == t_bad and torch.is_grad_enabled() else out)
    callback = (lambda i, losses: None) if with_callback else None
    with pytest.raises(FloatingPointError, match=f"step 2 \\(t = {t_bad}\\).*pivotal loss holds NaN"):
        fast_null_text_inversion(model, images(model, 1), PROMPTS[0], num_steps=4, num_inner_steps=2,
                                 progress=False, callback=callback, trace=False)


def test_trace_is_automatic_on_a_cpu_only_where_a_trace_is_exact(tiny_model):
    """trace=None: on a CPU, eager, without autocast, and only for a UNet with no Python hooks and diffusers'
    own attention processors (a trace would call either once, while recording)."""
    from nti_edu.fast.settings import resolve
    from nti_edu.p2p import AttentionStore
    from nti_edu.p2p.processor import attention_control

    model = copy.deepcopy(tiny_model)
    assert resolve(model).trace and not resolve(model, trace=False).trace
    assert not resolve(model, precision="bf16").trace  # autocast: eager
    handle = model.unet.conv_out.register_forward_hook(lambda module, args, out: out)
    assert not resolve(model).trace
    handle.remove()
    handle = torch.nn.modules.module.register_module_forward_pre_hook(lambda module, args: None)
    try:
        assert not resolve(model).trace  # a hook on every module
    finally:
        handle.remove()
    with attention_control(model.unet, AttentionStore(), model.latent_shape):
        assert not resolve(model).trace
    assert resolve(model).trace  # the original processors are back


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_the_automatic_trace_gives_the_eager_result_without_a_warning(tiny_model):
    """TorchScript's deprecation is about nti_edu.fast, not the caller's code: it is not shown."""
    x = images(tiny_model, 1)
    kwargs = dict(num_steps=3, num_inner_steps=2, progress=False)
    traced = fast_null_text_inversion(tiny_model, x, PROMPTS[0], **kwargs)
    eager = fast_null_text_inversion(tiny_model, x, PROMPTS[0], trace=False, **kwargs)
    assert traced.settings["fast"]["trace"] and not eager.settings["fast"]["trace"]
    emb, loss = largest_differences(traced, eager)
    assert emb <= 1e-5 and loss <= 1e-4


def test_stop_flag_on_the_cpu_answers_at_once():
    flag = StopFlag(torch.device("cpu"))
    assert not flag.all_stopped(torch.tensor([True, False]))
    assert flag.all_stopped(torch.tensor([False, False]))


@pytest.mark.parametrize("options, message", [
    (dict(precision="fp8"), "precision must be one of"), (dict(cuda_graph=True), "needs the model on a CUDA"),
    (dict(cache=True, compile=True), "eager path only"), (dict(trace=True, precision="bf16"), "without autocast"),
    (dict(num_inner_steps=-1), "num_inner_steps")])
def test_bad_options_raise(tiny_model, options, message):
    with pytest.raises(ValueError, match=message):
        fast_null_text_inversion(tiny_model, images(tiny_model, 1), PROMPTS[0], progress=False, **options)


def test_autocast_only_lowers_a_float32_model(tiny_model):
    half = copy.deepcopy(tiny_model).to(dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="autocast lowers a float32 model"):
        fast_null_text_inversion(half, images(half, 1), PROMPTS[0], precision="fp32", progress=False)


@pytest.mark.full  # quality checks (whole inversions, every option): minutes on 2 cores
def test_embedded_model_fast_path_within_0_2_db_of_the_plain_loop():
    from nti_edu.models import load_model
    from nti_edu.world import heldout_seeds, make_batch

    model = load_model("embedded")
    x, prompts, _, _ = make_batch(heldout_seeds(2))
    kwargs = dict(num_steps=10, num_inner_steps=5, progress=False)
    plain = null_text_inversion(model, x, prompts, **kwargs)
    fast = fast_null_text_inversion(model, x, prompts, **kwargs)
    _, loss = largest_differences(plain, fast)
    assert loss <= 1e-3
    gap = (psnr(reconstruct(model, fast), x) - psnr(reconstruct(model, plain), x)).abs().max().item()
    assert gap <= 0.2


@cuda_only
@pytest.mark.parametrize("precision, max_loss_difference", [(None, 1e-4), ("bf16", 0.1)])
def test_cuda_graphs_agree_with_the_plain_loop(tiny_model, precision, max_loss_difference):
    model, x = copy.deepcopy(tiny_model).to("cuda"), images(tiny_model, 2)
    kwargs = dict(num_steps=6, num_inner_steps=4, early_stop_eps=None, progress=False)
    plain = null_text_inversion(model, x.cuda(), PROMPTS, **kwargs)
    fast = fast_null_text_inversion(model, x.cuda(), PROMPTS, precision=precision, **kwargs)
    assert fast.settings["fast"]["cuda_graph"]
    _, loss = largest_differences(plain, fast)
    assert loss <= max_loss_difference
    gap = (psnr(reconstruct(model, fast), x.cuda()) - psnr(reconstruct(model, plain), x.cuda())).abs().max().item()
    assert gap <= 0.2


@cuda_only
def test_cuda_graphs_honour_the_early_stop_read_one_iteration_late(tiny_model):
    model = copy.deepcopy(tiny_model).to(device="cuda", dtype=torch.float64)
    x = images(model, 2, seed=3).cuda()
    kwargs = dict(num_steps=4, num_inner_steps=4, early_stop_eps=early_stop_between(model, x), progress=False)
    plain = null_text_inversion(model, x, PROMPTS, **kwargs)
    fast = fast_null_text_inversion(model, x, PROMPTS, **kwargs)
    emb, loss = largest_differences(plain, fast)
    assert emb <= 1e-9 and loss <= 1e-12


class ReplayByRunning:
    """Stands in for a CUDA graph on the CPU: replaying runs the recorded function again, on whatever
    the static buffers hold, so the graph runner's bookkeeping (static inputs, undoing the warm-up runs)
    is checked here; only the recording itself needs a GPU."""

    def __init__(self, fn):
        self.fn = fn

    def replay(self):
        self.fn()


def fake_capture(fn, warmup: int = 2):
    for _ in range(warmup):  # warm-up runs change the state, as on the GPU
        fn()
    return ReplayByRunning(fn)


def test_graph_runner_bookkeeping_on_the_cpu(model64, monkeypatch):
    import dataclasses

    from nti_edu.fast import fast_optimize_nulls, runners
    from nti_edu.fast.settings import resolve
    from nti_edu.null_text import NullTextConfig, optimize_nulls, pivots

    monkeypatch.setattr(runners, "capture", fake_capture)
    x = images(model64, 2, seed=3)
    pivotal = pivots(model64, x, PROMPTS, num_steps=4)
    latents, emb_cond = pivotal.latents, pivotal.emb_cond
    config = NullTextConfig(num_steps=4, num_inner_steps=4, early_stop_eps=early_stop_between(model64, x))
    runner = runners.GraphRunner(model64, dataclasses.replace(resolve(model64), cuda_graph=True, cache=False))
    for _ in range(2):  # a second run on the same runner records again, for its own state
        nulls, losses = fast_optimize_nulls(model64, latents, emb_cond, config, runner=runner, progress=False)
        plain_nulls, plain_losses = optimize_nulls(model64, latents, emb_cond, config, progress=False)
        assert max((u - v).abs().max().item() for u, v in zip(nulls, plain_nulls)) <= 1e-9
        assert [len(h) for h in losses] == [len(h) for h in plain_losses]
    assert len(runner.forwards) == 1  # one recorded forward serves the conditional and the guided step


@pytest.mark.parametrize("precision", [None, "bf16"])
def test_an_inner_iteration_never_reads_a_device_value_on_the_host(tiny_model, precision):
    """What a CUDA graph needs, checked on the CPU: under FakeTensorMode (shapes without data) any op
    whose result depends on tensor values, such as ``.item()`` or ``if tensor:``, raises."""
    import dataclasses

    from torch._subclasses.fake_tensor import DataDependentOutputException, FakeTensorMode

    from nti_edu.fast.inner import StepState, inner_iteration
    from nti_edu.fast.runners import EagerRunner
    from nti_edu.fast.settings import resolve

    model = tiny_model
    runner = EagerRunner(model, dataclasses.replace(resolve(model, precision=precision), cache=False))
    x_t, emb_null = torch.randn(2, *model.latent_shape), model.null_embedding(2)
    state = StepState.allocate(x_t, emb_null, torch.float32)
    state.load(x_t, 981, torch.randn_like(x_t), torch.randn_like(x_t), 0.5, 0.6, 1e-5)
    state.adam.set_step(1, 1e-2)
    with FakeTensorMode(allow_non_fake_inputs=True):
        inner_iteration(state, lambda emb: runner.eps(state.x_t, state.t, emb), 7.5)  # forward, backward, Adam
        with torch.no_grad():
            runner.eps(x_t, state.t, emb_null)  # the recorded forward
        with pytest.raises(DataDependentOutputException):
            bool(state.active.any())  # the check itself catches a host read
