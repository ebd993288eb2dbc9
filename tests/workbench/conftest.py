"""Fixtures for the page tests: the demo model, and extra checkpoints offered through SERWB_MODELS."""

from dataclasses import replace

import pytest
from wb_helpers import DEMO_MODEL

from core import checkpoint, models

SHIPPED = DEMO_MODEL.parent  # assets/models


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
def fusion_model(monkeypatch):
    """The shipped S3 fusion checkpoint (trained on the demo corpus), with no extra models offered."""
    monkeypatch.delenv("SERWB_MODELS", raising=False)
    return SHIPPED / "fusion"


@pytest.fixture
def attention_model(monkeypatch):
    """The shipped S2 CNN-attention checkpoint on MFCCs, with no extra models offered."""
    monkeypatch.delenv("SERWB_MODELS", raising=False)
    return SHIPPED / "cnn-atn"


@pytest.fixture
def speaker_batches_model(demo_model, tmp_path, monkeypatch):
    """The demo cnn-eca under a card saying it trained with speaker batches, offered through SERWB_MODELS."""
    model, card = demo_model
    folder = tmp_path / "models" / "speaker-batches"
    checkpoint.save(model, replace(card, training=dict(card.training) | {"speaker_batches": True}), folder)
    monkeypatch.setenv("SERWB_MODELS", str(tmp_path / "models"))
    return folder
