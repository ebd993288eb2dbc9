"""``core.training.train``: the protocol of ``serwb train`` in one library call, which the CLI only parses for."""

import dataclasses
import json

import pytest

from core import checkpoint
from core.cli import main
from core.errors import ConfigError
from core.training import TrainConfig, train
from core.training.protocol import split_for


def config(**settings) -> TrainConfig:
    return TrainConfig(**({"model": "sdnn", "epochs": 1, "batch_size": 8,  # as serwb train with no --model-cfg
                           "seconds": 1.0, "device": "cpu"} | settings))


def test_one_call_reproduces_serwb_train(demo_root, demo, tmp_path, capsys):
    lines = []
    trained = train(demo, config(), tmp_path / "lib", folds=2, grouped=True, progress=False, log=lines.append)
    assert main(["train", "--model", "sdnn", "--corpus", str(demo_root), "--out", str(tmp_path / "cli"),
                 "--folds", "2", "--grouped", "--epochs", "1", "--batch-size", "8", "--seconds", "1.0",
                 "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[0] for line in printed] == [line.split(" ", 1)[0] for line in lines]
    library = json.loads((tmp_path / "lib" / "metrics.json").read_text())
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert library == trained.report and library.keys() == cli.keys()
    assert library["held_out"]["UA"] == cli["held_out"]["UA"]  # CPU runs with the same seeds are bit-identical
    assert [f["UA"] for f in library["cv"]["folds"]] == [f["UA"] for f in cli["cv"]["folds"]]
    card = checkpoint.read_card(tmp_path / "lib" / "model")
    assert card.metrics["protocol"].startswith("split column") and card.metrics["cv"] == library["cv"]
    assert trained.result.card.weights_sha256 == card.weights_sha256


def test_the_protocol_is_chosen_from_the_corpus(demo, demo_train):
    train_set, test, protocol = split_for(demo, folds=1)
    assert protocol.startswith("split column") and len(train_set) == 8 and len(test) == 4
    plain = dataclasses.replace(demo_train, rows=tuple(
        dataclasses.replace(r, extra={k: v for k, v in r.extra.items() if k != "split"}) for r in demo_train.rows))
    train_set, test, protocol = split_for(plain, folds=3)
    assert protocol is None and test is None and len(train_set) == 8  # named by the folds: cv.protocol_name
    train_set, test, protocol = split_for(plain, folds=1)
    assert protocol.startswith("speaker holdout") and not set(train_set.speakers()) & set(test.speakers())
    with pytest.raises(ConfigError, match="folds >= 2"):
        train(demo, config(), "unused", folds=1, baseline="egemaps")
    with pytest.raises(ConfigError, match="one of egemaps"):
        train(demo, config(), "unused", folds=2, baseline="compare")
