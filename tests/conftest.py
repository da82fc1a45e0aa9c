"""Shared fixtures: tiny seeded Stable-Diffusion-shaped components, built once per test session."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder in SD's layout holding tiny random components (seed 0)."""
    from nti_edu.models.random_init import save_random_sd

    return save_random_sd(tmp_path_factory.mktemp("tiny_sd"), seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """The tiny components loaded through the real ``from_pretrained`` path, as a LatentDiffusion."""
    from nti_edu.models import load_model

    torch.manual_seed(0)
    return load_model(str(tiny_model_dir))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    """Skip tests marked slow unless --runslow is given."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
