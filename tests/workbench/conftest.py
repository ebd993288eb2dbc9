"""Fixtures for the page tests: the demo model, and extra checkpoints offered through SERWB_MODELS."""

import pytest
from wb_helpers import DEMO_MODEL

from core import checkpoint, models


@pytest.fixture(scope="session")
def demo_model():
    """The shipped cnn-eca demo checkpoint, loaded on the CPU as (model, card)."""
    return checkpoint.load(DEMO_MODEL, "cpu")


@pytest.fixture
def extra_models(tmp_path, monkeypatch):
    """A second (untrained, no ECA) model and a broken checkpoint, offered through SERWB_MODELS."""
    model = models.build("cnn", 4, n=1)
    checkpoint.save(model, {"labels": ["angry", "happy", "neutral", "sad"], "features": "stft-v8",
                            "training": {"seconds": 3.0}}, tmp_path / "models" / "plain-cnn")
    broken = tmp_path / "models" / "broken"
    broken.mkdir()
    (broken / "card.json").write_text("{ not json")
    monkeypatch.setenv("SERWB_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"



@pytest.fixture
def fusion_model(tmp_path, monkeypatch):
    """An (untrained) S3 fusion model at its demo size, offered through SERWB_MODELS."""
    model = models.build("fusion", 4, **models.demo_config("fusion"))
    checkpoint.save(model, {"labels": ["angry", "happy", "neutral", "sad"], "training": {"seconds": 3.0}},
                    tmp_path / "fusion")
    monkeypatch.setenv("SERWB_MODELS", str(tmp_path / "fusion"))
    return tmp_path / "fusion"


@pytest.fixture
def attention_model(tmp_path, monkeypatch):
    """An (untrained) S2 CNN-attention model on MFCCs at its demo size, offered through SERWB_MODELS."""
    model = models.build("cnn-atn", 4, **models.demo_config("cnn-atn"))
    checkpoint.save(model, {"labels": ["angry", "happy", "neutral", "sad"], "training": {"seconds": 3.0}},
                    tmp_path / "cnn-atn")
    monkeypatch.setenv("SERWB_MODELS", str(tmp_path / "cnn-atn"))
    return tmp_path / "cnn-atn"
