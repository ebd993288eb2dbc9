"""Every registered model builds, trains on the shipped demo corpus (CPU), saves and reloads to identical outputs."""

import math
from pathlib import Path

import pytest
import torch

from core import checkpoint, models
from core.data.corpora import load_manifest
from core.features import frontend
from core.training import TrainConfig, decode, fit

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "assets" / "demo"
SPEAKERS = ("demo-01", "demo-02")
SECONDS = 1.0  # 98-101 frames: at least one 96-frame patch for vggish, yamnet and fusion


@pytest.fixture(scope="module")
def shipped_slice():
    """8 train clips of the shipped demo corpus: one per emotion from each of two speakers."""
    train = load_manifest(DEMO).filter(split="train", speaker=list(SPEAKERS))
    first = {}
    for i, row in enumerate(train.rows):
        first.setdefault((row.speaker, row.label), i)
    picked = train.take(sorted(first.values()))
    assert len(picked) == 8 and dict(picked.counts()) == {label: 2 for label in picked.labels()}
    assert len(picked.labels()) == 4
    return picked


def config(name: str) -> TrainConfig:
    """The model's demo size, 1 s clips, one epoch of batches of 4 on the CPU."""
    return TrainConfig(model=name, model_cfg=models.demo_config(name), epochs=1, batch_size=4, seconds=SECONDS,
                       device="cpu", seed=0)


@pytest.mark.parametrize("name", models.available())
def test_model_trains_on_the_shipped_demo_and_reloads_to_identical_outputs(name, shipped_slice, tmp_path):
    cfg = config(name)
    result = fit(shipped_slice, cfg, tmp_path, labels=shipped_slice.labels(), progress=False)

    # trained: every record of the card is finite, and the weights moved away from the seeded initialisation
    history = result.card.metrics["history"]
    assert len(history) == 1 and result.history == list(history)
    for key in ("loss", "train_UA", "train_WA", "lr"):
        assert math.isfinite(history[0][key]), (key, history[0])
    torch.manual_seed(cfg.seed)  # fit seeds exactly so before it builds the model
    initial = models.build(name, len(result.labels), **dict(cfg.model_cfg)).state_dict()
    trained = result.model.state_dict()
    assert trained.keys() == initial.keys()
    params = dict(result.model.named_parameters())
    moved = [k for k in params if not torch.equal(trained[k], initial[k])]
    assert moved, f"{name}: no parameter changed in one epoch of training"
    still = [k for k, p in params.items() if p.requires_grad and k not in moved]
    assert not still, f"{name}: trainable parameters unchanged after training: {still}"
    assert all(torch.isfinite(v).all() for v in trained.values() if v.is_floating_point())

    # the final checkpoint fit wrote reloads to the same weights and the same outputs, bit for bit
    model, card = checkpoint.load(result.path, device="cpu")
    assert card.model == name and card.labels == tuple(shipped_slice.labels())
    assert card.model_config == result.model.config and card.data["clips"] == 8
    assert card.training["seconds"] == SECONDS and card.features == result.card.features
    reloaded = model.state_dict()
    assert reloaded.keys() == trained.keys()
    for key, value in trained.items():
        assert torch.equal(reloaded[key], value), key
    waves = decode(shipped_slice, result.labels, seconds=SECONDS, sample_rate=card.features.sample_rate).waves
    with torch.no_grad():
        x = frontend(card.features, "cpu")(waves[:4])
        expected = result.model.eval()(x)
        got = model.eval()(x)
    assert expected.shape == (4, 4) and torch.isfinite(expected).all()
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
