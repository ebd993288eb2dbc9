"""The papers' presets (``core.presets``): each builds its model and a TrainConfig, the S2 models have the layer
sizes the paper's text states, and ``serwb train --preset`` trains exactly that, a flag overriding one value."""

import json

import pytest
import torch

from core import checkpoint, models, presets
from core.cli import main
from core.data.corpora import load_manifest
from core.errors import ConfigError
from core.training import TrainConfig
from core.training.loop import _scheduler, longest_seconds
from core.training.protocol import random_holdout

NAMES = presets.available()
# The values a reproducer reads first: each must cite the paper or say why we chose
CITED = ("model", "model_cfg", "features", "loss", "optimiser", "lr", "lr_schedule", "batch_size", "epochs", "split",
         "seconds", "metrics")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_builds_its_model_and_a_train_config(name):
    p = presets.get(name)
    cfg = p.train_config()
    assert isinstance(cfg, TrainConfig) and cfg.model == p.model and dict(cfg.model_cfg) == dict(p.model_cfg)
    for field in presets.TRAIN_FIELDS:
        assert getattr(cfg, field) == getattr(p, field), field
    assert (cfg.focal_gamma == 0) == (p.loss == "cross-entropy")
    model = models.build(cfg.model, 4, **dict(cfg.model_cfg))
    assert model.spec.paper == p.paper
    assert all(p.sources.get(key) for key in CITED), [k for k in CITED if not p.sources.get(k)]
    assert name in presets.listing() and all(f"  {key} = " in presets.describe(name) for key in CITED)


def test_the_presets_hold_the_papers_training_values():
    s0, s3 = presets.get("s0"), presets.get("s3")
    assert (s0.focal_gamma, s0.class_weighted, s0.epochs, s0.batch_size, s0.folds, s0.split) == \
        (1.0, True, 100, 36, 5, "folds")  # "the focal loss parameter was set to 1", not our default 2
    assert models.num_parameters(models.build(s0.model, 4, **dict(s0.model_cfg))) == 2_734_482  # Table 4
    for name in ("s2-cnn", "s2-cnn-atn", "s2-lstm", "s2-lstm-atn"):
        cfg = presets.get(name).train_config()
        assert (cfg.focal_gamma, cfg.class_weighted, cfg.batch_size, cfg.lr, cfg.lr_end, cfg.lr_schedule,
                cfg.seconds) == (0.0, False, 32, 1e-3, 1e-4, "exponential", None)
        assert presets.get(name).protocol() == {"folds": 1, "grouped": False, "holdout": "random", "test_size": 0.2}
    assert presets.get("s2-sdnn").train_config().lr == 1e-4 and presets.get("s2-sdnn").lr_schedule == "step"
    assert (s3.lr, s3.epochs, s3.batch_size, s3.test_size, s3.segment_training) == (0.01, 20, 128, 0.15, True)
    assert presets.get("s1").protocol()["grouped"]
    step = presets.get("s2-cnn-atn").train_config(lr_schedule="step", lr_decay=0.9)  # an override of the decay kind
    assert (step.lr_schedule, step.lr_end, step.lr_decay) == ("step", None, 0.9)


def test_an_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match="s2-cnn-atn"):
        presets.get("s2")


# ----------------------------------------------------------------------------- S2's layer lists

def _outputs(model, modules, x):
    """Each module's output for input ``x``."""
    seen = []
    handles = [m.register_forward_hook(lambda m, i, o: seen.append(o[0] if isinstance(o, tuple) else o))
               for m in modules]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def _s2(name, classes=8):
    p = presets.get(name)
    return models.build(p.model, classes, **dict(p.model_cfg))


RAVDESS = torch.randn(2, 40, 228)  # "a tensor of the dimensions (228, 40) for the RAVDESS", 8 emotions


@pytest.mark.parametrize("name", ["s2-cnn", "s2-cnn-atn"])
def test_s2_cnns_have_the_papers_layer_sizes(name):
    model = _s2(name)
    maps = _outputs(model, list(model.blocks), RAVDESS)
    # "(220, 64)", "(214, 64)", "(210, 32)", "(206, 32)", "(204, 16)" as (channels, steps)
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 220), (64, 214), (32, 210), (32, 206), (16, 204)]
    assert [b.drop.p for b in model.blocks] == ([0.5] * 4 + [0.0] if name == "s2-cnn" else [0.5] * 3 + [0.0] * 2)
    # Keras' counts from the layer list: conv k * in * out + out, BatchNorm 2 * out trainable, dense in * out + out
    layers = [(40, 64, 9), (64, 64, 7), (64, 32, 5), (32, 32, 5), (32, 16, 3)]
    trunk = sum(k * i * o + o + 2 * o for i, o, k in layers)
    head = 3264 * 8 + 8 if name == "s2-cnn" else 32 * 128 + 128 * 8 + 8  # "3264 elements"; W_c [c; h] -> "128"
    assert models.num_parameters(model) == trunk + head + 2 * 40  # + our input BatchNorm of the 40 MFCCs
    assert model.embed(RAVDESS).shape == (2, 3264 if name == "s2-cnn" else 128)
    assert model(RAVDESS).shape == (2, 8)


def test_s2_sdnn_is_dense_per_coefficient_then_flattened():
    model = _s2("s2-sdnn")
    hidden = _outputs(model, [model.mlp[0], model.mlp[3]], RAVDESS)
    assert [tuple(h.shape[1:]) for h in hidden] == [(40, 128), (40, 64)]  # "(40, 128)", "(40, 64)"
    assert model.embed(RAVDESS).shape == (2, 2560)  # "the number of elements included in the tensor is 2560"
    assert models.num_parameters(model) == (128 + 128) + (128 * 64 + 64) + (2560 * 8 + 8) + 2 * 40
    assert [m.p for m in model.mlp if isinstance(m, torch.nn.Dropout)] == [0.1, 0.1]  # "10% dropout rate"


@pytest.mark.parametrize("name", ["s2-lstm", "s2-lstm-atn"])
def test_s2_lstms_stack_100_then_50_cells(name):
    model = _s2(name)
    states = _outputs(model, list(model.lstm.layers), RAVDESS)
    assert [tuple(s.shape[1:]) for s in states] == [(228, 100), (228, 50)]  # "(228, 100)", "dimension 50"
    assert model.embed(RAVDESS).shape == (2, 50 if name == "s2-lstm" else 128)  # "(50)"; "(128 in our case)"
    assert model.head.drop.p == 0.5  # "reset 50% of the connections"


# ----------------------------------------------------------------------------- what the trainer gained

def test_the_decaying_schedules_reach_lr_end_in_the_last_epoch():
    rates = {}
    for kind in ("exponential", "linear"):
        cfg = TrainConfig(lr=1e-3, lr_schedule=kind, lr_end=1e-4, epochs=100)
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
        scheduler, seen = _scheduler(optimizer, cfg), []
        for _ in range(cfg.epochs):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        rates[kind] = seen
        assert seen[0] == pytest.approx(1e-3) and seen[-1] == pytest.approx(1e-4)
    assert rates["exponential"][50] == pytest.approx(1e-3 * 0.1 ** (50 / 99))
    assert rates["linear"][50] == pytest.approx(1e-3 - 9e-4 * 50 / 99)
    assert TrainConfig().lr_schedule == "step" and TrainConfig().lr_end is None  # the old default stays
    for bad in ({"lr_schedule": "exponential"}, {"lr_end": 1e-4}, {"lr_schedule": "cosine", "lr_end": 1e-4}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)


LABELS = ("angry", "happy", "neutral", "sad")  # the tone corpus's (tests/core/conftest.py)


@pytest.fixture(scope="module")
def tiny(tone_corpus):
    """20 clips (4 emotions x 5, two speakers), 0.6-1.2 s of a tone per emotion in noise; no split column."""
    return tone_corpus("tiny", 0.6, 0.15)


def test_a_random_holdout_is_stratified_by_emotion(tiny):
    manifest = load_manifest(tiny)
    train_idx, test_idx = random_holdout(manifest, 0.2, seed=0)
    assert sorted(manifest.rows[i].label for i in test_idx) == sorted(LABELS)  # 1 of each emotion's 5 clips
    assert sorted([*train_idx, *test_idx]) == list(range(20))
    assert list(random_holdout(manifest, 0.2, seed=0)[1]) == list(test_idx)
    assert longest_seconds(manifest) == pytest.approx(1.2)


def test_serwb_train_preset_trains_it_and_records_the_preset_and_the_overrides(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "s2-cnn-atn", "--corpus", str(tiny), "--out", str(out), "--epochs", "1",
                 "--batch-size", "8", "--model-cfg", "attn_dim=16", "--device", "cpu", "--quiet"]) == 0
    assert "preset s2-cnn-atn (S2)" in capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    assert report["preset"]["name"] == "s2-cnn-atn"
    assert report["preset"]["overrides"] == {"epochs": 1, "batch_size": 8, "model_cfg": {"attn_dim": 16}}
    assert report["protocol"].startswith("random 80/20 split") and report["held_out"]["n"] == 4
    card = checkpoint.read_card(out / "model")
    assert card.metrics["preset"] == report["preset"] and card.model == "cnn-atn"
    paper = dict(presets.get("s2-cnn-atn").model_cfg)
    assert card.model_config == {**models.default_config("cnn-atn"), **json.loads(json.dumps(paper)), "attn_dim": 16}
    t = card.training  # the user's flags won; every other value is the paper's
    assert (t["epochs"], t["batch_size"], t["lr"], t["lr_schedule"], t["lr_end"], t["focal_gamma"],
            t["class_weighted"]) == (1, 8, 1e-3, "exponential", 1e-4, 0.0, False)
    assert t["seconds"] == pytest.approx(1.2) and "longest training clip" in t["seconds_from"]  # full sequences
    assert report["settings"]["training"]["seconds"] is None and report["settings"]["holdout"] == "random"
    assert card.metrics["history"][0]["lr"] == pytest.approx(1e-3)


def test_a_preset_fixes_its_model(tiny, tmp_path, capsys):
    assert main(["train", "--preset", "s2-cnn-atn", "--model", "lstm", "--corpus", str(tiny),
                 "--out", str(tmp_path / "x"), "--quiet"]) == 1
    assert "trains model 'cnn-atn', not 'lstm'" in capsys.readouterr().err
    assert main(["train", "--corpus", str(tiny), "--out", str(tmp_path / "y"), "--quiet"]) == 1
    assert "--model NAME or --preset NAME" in capsys.readouterr().err
