"""Shared fixtures of the core tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors run faster on one thread than on two busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
