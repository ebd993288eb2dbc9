"""evaluate() on a corpus with a label the model lacks: those clips are counted, not scored; chance level beside UA."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from sklearn.metrics import recall_score

from core import checkpoint
from core.cli import main
from core.data.corpora import load_manifest
from core.errors import CorpusError
from core.training import decode, evaluate, predict

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "assets" / "demo"
DEMO_MODEL = ROOT / "assets" / "models" / "cnn-eca"


def write_corpus(root: Path, rows) -> Path:
    """A CSV-manifest corpus of copies of shipped demo clips: ``rows`` = [(demo row, label), ...]."""
    root.mkdir(parents=True)
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "speaker"])
        for i, (row, label) in enumerate(rows):
            shutil.copyfile(row.path, root / f"clip{i:02d}.wav")
            writer.writerow([f"clip{i:02d}.wav", label, row.speaker])
    return root


@pytest.fixture(scope="module")
def shipped():
    return checkpoint.load(DEMO_MODEL, "cpu")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Two test clips per emotion of the demo corpus, plus one copy of a demo clip labelled "fearful"."""
    test = load_manifest(DEMO).filter(split="test")
    rows = [(r, r.label) for label in test.labels() for r in test.filter(label=label).rows[:2]]
    rows.append((test.rows[0], "fearful"))
    return load_manifest(write_corpus(tmp_path_factory.mktemp("mixed") / "corpus", rows))


def test_clips_of_labels_the_model_lacks_are_counted_not_scored(shipped, mixed):
    model, card = shipped
    assert card.labels == ("angry", "happy", "neutral", "sad")
    result = evaluate(model, mixed, card=card, device="cpu")
    assert result["unknown_labels"] == {"fearful": 1} and result["n_unknown"] == 1
    assert result["n"] == len(mixed) - 1 == 8
    assert sum(map(sum, result["confusion"])) == 8 and result["labels"] == list(card.labels)
    assert result["chance_UA"] == 0.25

    scored = mixed.filter(label=list(card.labels))
    data = decode(scored, card.labels, seconds=card.training["seconds"])
    pred = predict(model, data.waves, card.features, device="cpu").argmax(1)
    truth = data.targets.numpy()
    assert result["UA"] == pytest.approx(recall_score(truth, pred.numpy(), average="macro",
                                                      labels=sorted(set(truth.tolist()))))


def test_a_corpus_with_only_unknown_labels_names_both_label_sets(shipped, tmp_path):
    model, card = shipped
    test = load_manifest(DEMO).filter(split="test")
    only = load_manifest(write_corpus(tmp_path / "corpus", [(r, "fearful") for r in test.rows[:2]]))
    with pytest.raises(CorpusError, match=r"knows \['angry', 'happy', 'neutral', 'sad'\].*has \['fearful'\]"):
        evaluate(model, only, card=card, device="cpu")


def test_serwb_evaluate_prints_the_chance_level_and_the_unscored_clips(shipped, mixed, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(DEMO_MODEL), "--corpus", str(mixed.root), "--out", str(out), "--device", "cpu",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "(chance 0.250)" in printed and "on 8 clips" in printed
    assert "1 clips with labels the model does not know (fearful: 1) were not scored" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unknown_labels"] == {"fearful": 1} and metrics["n_unknown"] == 1 and metrics["chance_UA"] == 0.25
