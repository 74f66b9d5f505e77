"""Fixtures shared by the test modules: tiny generators (in memory and as files), one torch thread, and an
environment without the ops override."""
import pytest
import torch

import generators
from generators.ops import dispatch

from tiny_models import make_tiny_generator


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run far faster on one torch thread when other processes compete for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def G(request):
    """The module's tiny untrained StyleGAN2, frozen. A module picks its size and options with
    ``TINY_G = dict(dim=..., resolution=..., noise_strength=...)`` (default: dim 32, 16 px)."""
    return make_tiny_generator(**getattr(request.module, "TINY_G", {})).eval().requires_grad_(False)


@pytest.fixture(scope="session")
def saved_generator(tmp_path_factory):
    """``saved_generator(dim=32)`` -> path of a tiny StyleGAN2 saved in cfgan's format (one file per size)."""
    cache = {}

    def make(dim: int = 32) -> str:
        if dim not in cache:
            path = tmp_path_factory.mktemp("generators") / f"tiny{dim}.pt"
            generators.save(make_tiny_generator(dim), str(path))
            cache[dim] = str(path)
        return cache[dim]

    return make


@pytest.fixture
def clean_ops_env(monkeypatch):
    """No ``CFGAN_OPS_IMPL`` override from the caller's shell: each test chooses the op path itself."""
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
