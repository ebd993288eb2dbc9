"""The demo checkpoints under assets/models: present, safe, small, and their cards honest."""

from pathlib import Path

import pytest

from core.checkpoint import data_fingerprint, load
from core.data.corpora import load_manifest
from core.training import evaluate

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "assets" / "models"
SHIPPED = ("cnn-eca", "fusion", "cnn-atn")


def test_the_three_demo_models_ship_within_40_mb():
    folders = sorted(p.parent.name for p in MODELS.glob("*/card.json"))
    assert set(SHIPPED) <= set(folders)
    assert sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file()) <= 40_000_000
    assert not [p for p in MODELS.rglob("*") if p.suffix in {".pt", ".pth", ".pkl", ".ckpt", ".bin"}]


@pytest.mark.parametrize("name", SHIPPED)
def test_card_states_what_the_model_scores_on_held_out_speakers(name):
    model, card = load(MODELS / name, device="cpu")
    assert card.model == name and card.labels == ("angry", "happy", "neutral", "sad")
    demo = load_manifest(ROOT / "assets" / "demo")
    train, test = demo.filter(split="train"), demo.filter(split="test")
    assert card.data["fingerprint"] == data_fingerprint(train)  # trained on the shipped train split
    assert not set(train.speakers()) & set(test.speakers())
    held = card.metrics["held_out"]
    again = evaluate(model, test, card=card, device="cpu")
    assert again["UA"] == pytest.approx(held["UA"], abs=1e-6)
    assert again["WA"] == pytest.approx(held["WA"], abs=1e-6)
    assert held["UA"] >= 0.80
