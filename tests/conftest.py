"""Shared fixtures: tiny seeded Stable-Diffusion-shaped components, built once per test session."""
import os
import socket

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from nti_edu import threads  # noqa: E402  before torch: its thread policy (passive waits) must be set when torch
# starts its threads, or this process's idle threads spin and take the CPUs from the notebook kernels and CLI subprocesses

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1 and threads.ENV not in os.environ:  # pytest -n N: each worker (and the notebook kernels and
    threads.set_threads(max(1, threads.available_cpus() // WORKERS))  # subprocesses it starts) its share of the CPUs
import torch  # noqa: E402

import scheduling  # noqa: E402  tests/scheduling.py: how xdist's workers share the suite


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder in SD's layout holding tiny random components (seed 0)."""
    from nti_edu.testing.random_init import save_random_sd

    return save_random_sd(tmp_path_factory.mktemp("tiny_sd"), seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """The tiny components loaded through the real ``from_pretrained`` path, as a LatentDiffusion."""
    from nti_edu.models import load_model

    torch.manual_seed(0)
    return load_model(str(tiny_model_dir))


@pytest.fixture(scope="session")
def model64(tiny_model):
    """The tiny model in float64, for identities that float32 round-off would blur: the random model's guided
    steps blow a batch's or an attention kernel's round-off up to 1e-5 and more (how much depends on the CPU)."""
    import copy

    return copy.deepcopy(tiny_model).to(dtype=torch.float64)


@pytest.fixture(scope="session")
def disc_png(tmp_path_factory):
    """A 32x32 RGB test image file (the tiny model's side): a red disc on a blue background."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[:32, :32]
    arr = np.zeros((32, 32, 3), np.uint8)
    arr[...] = (40, 80, 225)
    arr[(x - 16) ** 2 + (y - 16) ** 2 < 81] = (220, 30, 30)
    path = tmp_path_factory.mktemp("img") / "disc.png"
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture(scope="session")
def clip_tokenizer_dir():
    """Stable Diffusion 1.x's real CLIP tokenizer folder, built once from open_clip's merges (nti_edu.testing)."""
    from nti_edu.testing.clip_tokenizer import built_tokenizer_dir

    return built_tokenizer_dir()


@pytest.fixture(scope="session")
def sd15_standin_dir(tmp_path_factory):
    """A folder in SD's layout holding the SD-1.5-shaped stand-in (small widths, seed 0)."""
    from nti_edu.testing import save_sd15_standin

    return save_sd15_standin(tmp_path_factory.mktemp("sd15_standin"), seed=0)


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", default=False,
                     help="the full tier: also run tests marked full (CI runs it: 24 min at -n 2, 2-core Xeon)")
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (a real browser, a fresh venv; not in CI)")


TIERS = {"full": "--full", "slow": "--runslow"}  # marker -> the option that runs it


def pytest_collection_modifyitems(config, items):
    """The quick tier by default; tests marked full run with --full, those marked slow with --runslow.
    On xdist's workers, the longest units of work first (tests/scheduling.py)."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        scheduling.longest_first(items)
    for marker, option in TIERS.items():
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"{marker} tier: run with {option}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which would choose by --dist
def pytest_xdist_make_scheduler(config, log):
    """With -n (and --dist load or loadfile): files as units (the stand-in's notebooks one each), longest first,
    tests/scheduling.py. Another --dist asked for by name is xdist's own."""
    if config.getvalue("dist") in ("load", "loadfile"):
        return scheduling.LongestFirst(config, log)
    return None


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection fails: the commands must not need the network.

    The Hugging Face libraries' offline mode (which conftest.py turns on) is turned off here, as it is
    on a user's machine, so that a library reaching for the network would hit the blocked socket.
    """
    import diffusers.utils.hub_utils
    import huggingface_hub.constants

    def refuse(*args, **kwargs):
        raise NetworkBlocked(f"network access attempted in an offline test: {args[1:] or args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(diffusers.utils.hub_utils, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
