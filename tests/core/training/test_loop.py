"""The training loop on the small demo corpus (CPU): loss, features, checkpoints, protocols."""

import dataclasses
import json

import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from core import checkpoint, models
from core.errors import ConfigError, CorpusError
from core.features import frontend, num_frames, patches, preset
from core.training import TrainConfig, cross_validate, decode, evaluate, fit, load_latest, predict
from core.training.loop import _Batcher, n_patches


def config(model="sdnn", **settings) -> TrainConfig:
    """Small and fast: the model's demo size, 1 s clips (101 frames), one epoch."""
    base = {"model": model, "model_cfg": models.demo_config(model), "epochs": 1, "batch_size": 8, "seconds": 1.0,
            "device": "cpu"}
    return TrainConfig(**(base | settings))


@pytest.fixture(scope="module")
def trained(demo_train, demo_test, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = fit(demo_train, config("cnn-eca", epochs=6, batch_size=4, lr=3e-3), out, val_manifest=demo_test,
                 progress=False)
    return result, out


def test_a_tiny_model_learns_on_the_demo_corpus(trained):
    result, _ = trained
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] and min(losses[3:]) < 0.3 * losses[0], losses
    assert max(h["train_UA"] for h in result.history[3:]) > result.history[0]["train_UA"]
    assert {"val_UA", "val_WA", "val_ACC"} <= set(result.history[-1])
    assert result.history[1]["lr"] == pytest.approx(3e-3 * 0.95)


def test_the_epoch_checkpoint_loads_and_holds_the_trainer_state(trained, demo_train):
    result, out = trained
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["LATEST", "epoch-0006"]
    model, card = load_latest(out, device="cpu")
    x = torch.randn(2, 64, 101)
    with torch.no_grad():
        assert torch.equal(model(x), result.model.eval()(x))
    assert card.labels == tuple(demo_train.labels()) and card.metrics["history"] == result.history
    state = json.loads((out / "checkpoints" / "epoch-0006" / "trainer.json").read_text())
    assert state["epoch"] == 6 and state["scheduler"]["last_epoch"] == 6
    assert state["data_fingerprint"] == checkpoint.data_fingerprint(demo_train)
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.pkl"))
    final, final_card = checkpoint.load(result.path, device="cpu")
    assert final_card.training["model"] == "cnn-eca" and final_card.data["clips"] == 8
    assert "validation" in final_card.metrics


def test_evaluate_agrees_with_scikit_learn(trained, demo_test):
    result, _ = trained
    scores = evaluate(result.model, demo_test, card=result.card, device="cpu")
    data = decode(demo_test, result.labels, seconds=1.0)  # the card's clip length
    pred = predict(result.model, data.waves, preset("stft-v8"), device="cpu").argmax(1)
    assert scores["UA"] == pytest.approx(balanced_accuracy_score(data.targets, pred))
    assert scores["n"] == 4 and scores["labels"] == result.labels and len(scores["confusion"]) == 4


def test_features_are_computed_per_batch_by_the_shared_frontend(demo_train):
    data = decode(demo_train)
    feat = preset("stft-v8")
    batcher = _Batcher(data.waves, [feat], torch.device("cpu"), None)
    assert batcher.fronts[0] is frontend(feat, "cpu")
    items = torch.tensor([[3, 0, -1], [1, 0, -1], [3, 0, -1]])
    x = batcher(items)
    assert x.device == torch.device("cpu") and x.shape == (3, 64, num_frames(48_000, feat))
    with torch.no_grad():
        assert torch.equal(x, frontend(feat, "cpu")(data.waves[[3, 1, 3]]))


def test_stft_augmentation_shows_each_clip_through_each_version(demo_train, tmp_path):
    versions = ("stft-v1", "stft-v4", "stft-v8")
    result = fit(demo_train, config("cnn", augment=versions, features="stft-v8"), tmp_path, progress=False)
    assert result.n_items == 3 * len(demo_train)
    assert result.card.training["augment"] == list(versions) and result.card.features.name == "stft-v8"
    data = decode(demo_train)
    batcher = _Batcher(data.waves, [preset(v) for v in versions], torch.device("cpu"), None)
    x = batcher(torch.tensor([[2, 0, -1], [2, 1, -1], [2, 2, -1]]))
    for i, v in enumerate(versions):
        with torch.no_grad():
            assert torch.equal(x[i], frontend(preset(v), "cpu")(data.waves[2]))
    assert not torch.equal(x[0], x[1]) and not torch.equal(x[1], x[2])
    with pytest.raises(ConfigError, match="same shape|shape of"):
        fit(demo_train, config("cnn", augment=("stft-v1", "mfcc40"), features="stft-v8"), tmp_path / "bad", progress=False)


def test_segment_training_cuts_patches_and_evaluates_whole_clips(demo_train, demo_test, tmp_path):
    feat = preset("vggish")
    assert n_patches(num_frames(48_000, feat), 96, 96) == 4  # 3 s: 311 frames -> 4 patches, the last one padded
    per_clip = n_patches(num_frames(32_000, feat), 96, 96)
    assert per_clip == 3  # 2 s: 198 frames
    result = fit(demo_train, config("vggish", seconds=2.0), tmp_path, progress=False)
    assert result.card.training["segment_training"] is True and result.n_items == per_clip * len(demo_train)
    assert result.card.training["segment_frames"] == [96, 96]
    data = decode(demo_train)
    batcher = _Batcher(data.waves, [feat], torch.device("cpu"), (96, 96))
    x = batcher(torch.tensor([[5, 0, 0], [5, 0, 3], [6, 0, 1]]))
    assert x.shape == (3, 64, 96)
    with torch.no_grad():
        full = patches(frontend(feat, "cpu")(data.waves[[5, 6]]), 96, 96)
    assert torch.equal(x[0], full[0, 0]) and torch.equal(x[1], full[0, 3]) and torch.equal(x[2], full[1, 1])
    assert evaluate(result.model, demo_test, card=result.card, device="cpu")["n"] == len(demo_test)


def test_gaussian_data_selection_drops_segments_and_reports_them(demo_train, tmp_path):
    result = fit(demo_train, config("vggish", seconds=2.0, gds_threshold=0.3), tmp_path, progress=False)
    report = result.selection
    assert report["segments"] == 3 * len(demo_train) and report["kept"] + report["dropped"] == report["segments"]
    assert report["dropped"] >= 4  # min-max scores: each emotion's least typical segment scores 0
    assert result.n_items == report["kept"]
    assert result.card.extra["gds"] == report
    with pytest.raises(ConfigError, match="segment training"):
        fit(demo_train, config(gds_threshold=0.3), tmp_path / "no", progress=False)


def test_cross_validation_reports_each_fold_and_the_mean(demo_train, tmp_path):
    cv = cross_validate(demo_train, config(), k=2, grouped=True, out_dir=tmp_path, progress=False)
    assert cv["k"] == 2 and cv["grouped"] and len(cv["folds"]) == 2
    for name in ("UA", "WA", "ACC"):
        assert cv["mean"][name] == pytest.approx(sum(f[name] for f in cv["folds"]) / 2)
    assert [f["test_clips"] for f in cv["folds"]] == [4, 4]  # one speaker per fold
    assert (tmp_path / "fold-1" / "model" / "card.json").is_file()


def test_runs_are_protected_and_cue_clips_refused(demo, demo_train, tmp_path):
    fit(demo_train, config(), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        fit(demo_train, config(), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="lr: 0.001 -> 0.01"):
        fit(demo_train, config(lr=1e-2, epochs=2), tmp_path, resume=True, progress=False)
    with pytest.raises(CorpusError, match="planted-cue"):
        fit(demo, config(), tmp_path / "cue", progress=False)


def test_train_config_checks_and_round_trips():
    cfg = config("cnn-eca", augment=["stft-v1"], model_cfg={"n": 1})
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    for bad in ({"epochs": 0}, {"lr": -1.0}, {"lr_decay": 1.5}, {"amp": "fp8"}, {"gds_threshold": 1.0, "gds_scope": "emotion"},
                {"optimiser": "rmsprop"}):
        with pytest.raises(ConfigError):
            config(**bad)
    with pytest.raises(ConfigError, match="Unknown training settings"):
        TrainConfig.from_dict({"epoch": 3})


def _four_speakers(manifest):
    """The 8 demo training clips as four speakers of two clips each (early stopping needs a speaker to spare)."""
    rows = [dataclasses.replace(r, speaker=f"{r.speaker}-{i % 2}") for i, r in enumerate(manifest.rows)]
    return dataclasses.replace(manifest, rows=tuple(rows))


def test_early_stopping_stops_when_validation_stalls_and_keeps_the_best_epoch(demo_train, demo_test, tmp_path):
    stalled = fit(demo_train, config("cnn-eca", epochs=6, lr=1e-12, patience=2), tmp_path / "stall",
                  val_manifest=demo_test, progress=False)
    assert len(stalled.history) == 3  # epoch 1 is the best a model that does not move gets; 2 and 3 add nothing
    assert stalled.card.metrics["early_stopping"]["best_epoch"] == 1
    assert stalled.card.metrics["early_stopping"]["epochs_run"] == 3

    run = fit(demo_train, config("cnn-eca", epochs=6, batch_size=4, lr=3e-3, patience=2), tmp_path / "run",
              val_manifest=demo_test, progress=False)
    record = run.card.metrics["early_stopping"]
    val_ua = [h["val_UA"] for h in run.history]
    assert record["best_epoch"] == 1 + val_ua.index(max(val_ua))  # the first epoch with the best validation UA
    assert len(run.history) in (6, record["best_epoch"] + 2)
    assert record["val_speakers"] == demo_test.speakers()
    # the kept weights are the best epoch's: exactly what a run of that many epochs ends with (CPU, derived seeds)
    prefix = fit(demo_train, config("cnn-eca", epochs=record["best_epoch"], batch_size=4, lr=3e-3),
                 tmp_path / "prefix", progress=False)
    kept, reference = run.model.state_dict(), prefix.model.state_dict()
    assert all(torch.equal(kept[k], reference[k]) for k in reference)
    assert evaluate(run.model, demo_test, card=run.card, device="cpu")["UA"] == pytest.approx(max(val_ua))
    with pytest.raises(ConfigError, match="validation set"):
        fit(demo_train, config(patience=2), tmp_path / "no-val", progress=False)


def test_cross_validation_watches_a_training_speaker_never_the_test_speaker(demo_train, tmp_path):
    corpus = _four_speakers(demo_train)
    cv = cross_validate(corpus, config(epochs=3, patience=1), k=2, grouped=True, out_dir=tmp_path, progress=False)
    watched = []
    for fold in cv["folds"]:
        record = fold["early_stopping"]
        assert len(record["val_speakers"]) == 1 and record["val_speakers"][0] not in fold["test_speakers"]
        card = checkpoint.read_card(tmp_path / f"fold-{fold['fold']}" / "model")
        assert record["val_speakers"][0] not in card.data["speakers"]  # the watched speaker does not train
        assert fold["train_clips"] == card.data["clips"] == 8 - fold["test_clips"] - record["val_clips"]
        watched += record["val_speakers"]
    assert len(set(watched)) == 2
    from core.training.cv import final_epochs, validation_split

    stops = {"folds": [{"early_stopping": {"best_epoch": e}} for e in (12, 3, 7)]}
    assert final_epochs(stops) == 7 and final_epochs({"folds": [{"UA": 0.5}]}) is None
    with pytest.raises(CorpusError, match="one training speaker"):
        validation_split(demo_train.filter(speaker=demo_train.speakers()[0]))


def test_a_resumed_run_keeps_its_early_stopping_state(demo_train, demo_test, tmp_path):
    stalled = dict(lr=1e-12, patience=1)  # validation UA cannot improve after epoch 1
    fit(demo_train, config("cnn-eca", epochs=2, **stalled), tmp_path / "run", val_manifest=demo_test, progress=False)
    resumed = fit(demo_train, config("cnn-eca", epochs=6, **stalled), tmp_path / "run", val_manifest=demo_test,
                  resume=True, progress=False)
    assert len(resumed.history) == 2 and resumed.card.metrics["early_stopping"]["best_epoch"] == 1
    first = fit(demo_train, config("cnn-eca", epochs=1, lr=1e-12), tmp_path / "one", progress=False)
    assert all(torch.equal(v, first.model.state_dict()[k]) for k, v in resumed.model.state_dict().items())


def test_the_optimiser_is_the_configs(demo_train, tmp_path):
    # Adam keeps running moments per weight; plain SGD (S2's DBN package) keeps none: the saved state tells them apart
    from core.checkpoint import load_state
    from core.training.loop import CHECKPOINTS, TRAINER

    for name, has_moments in (("adam", True), ("sgd", False)):
        fit(demo_train, config("cnn", model_cfg={"n": 1}, epochs=1, optimiser=name), tmp_path / name, progress=False)
        folder = tmp_path / name / CHECKPOINTS
        state = load_state(folder / (folder / "LATEST").read_text().strip(), TRAINER)
        moments = [s for s in state["optimizer"]["state"].values() if "exp_avg" in s]
        assert bool(moments) == has_moments, name
