"""Shared fixtures of the model tests."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def models_on_one_thread(one_thread):
    """Every model test runs on one thread (``tests/core/conftest.py``)."""
    yield
