"""Shared fixtures of the model tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These small tensors run faster on one thread than on two busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
