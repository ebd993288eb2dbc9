"""Fixtures for training tests: the small synthetic demo corpus (espeak-ng), generated once per session."""

import pytest

from core.data.corpora import load_manifest
from core.data.synthetic import generate


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """The "small" demo corpus: 8 train clips (2 speakers x 4 emotions), 4 test clips, 3 cue clips."""
    root = tmp_path_factory.mktemp("demo_small")
    generate(root, seed=0, size="small", progress=False)
    return root


@pytest.fixture(scope="session")
def demo(demo_root):
    return load_manifest(demo_root)


@pytest.fixture(scope="session")
def demo_train(demo):
    return demo.filter(split="train")


@pytest.fixture(scope="session")
def demo_test(demo):
    return demo.filter(split="test")
