"""Fixtures shared by the test modules."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run far faster on one torch thread when other processes compete for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
