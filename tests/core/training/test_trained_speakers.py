"""Scores on clips of speakers a model was trained on are flagged: they are not speaker-independent."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core import checkpoint
from core.cli import main
from core.data.corpora import load_manifest
from core.training import evaluate

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "assets" / "demo"


@pytest.fixture(scope="module")
def clips():
    """Four test clips of each of two demo speakers."""
    test = load_manifest(DEMO).filter(split="test")
    a, b = test.speakers()[:2]
    return replace(test, rows=test.filter(speaker=a).rows[:4] + test.filter(speaker=b).rows[:4]), a, b


@pytest.fixture(scope="module")
def heard_a(clips, tmp_path_factory):
    """The demo cnn-eca under a card saying it was trained on speaker ``a`` (and one the clips lack)."""
    _, a, _ = clips
    model, card = checkpoint.load(ROOT / "assets" / "models" / "cnn-eca", "cpu")
    folder = tmp_path_factory.mktemp("heard") / "model"
    checkpoint.save(model, replace(card, data=dict(card.data) | {"speakers": [a, "someone-else"]}), folder)
    return folder


def test_evaluate_counts_the_clips_of_speakers_the_model_was_trained_on(clips, heard_a):
    manifest, a, b = clips
    model, card = checkpoint.load(heard_a, "cpu")
    assert card.trained_speakers == {a, "someone-else"}
    assert evaluate(model, manifest, card=card, device="cpu")["trained_speakers"] == {a: 4}
    unheard = replace(manifest, rows=manifest.filter(speaker=b).rows)
    assert evaluate(model, unheard, card=card, device="cpu")["trained_speakers"] == {}


def test_serwb_evaluate_warns_that_such_scores_are_not_speaker_independent(clips, heard_a, tmp_path, capsys):
    manifest, a, _ = clips
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = ["path,label,speaker"]
    for i, r in enumerate(manifest.rows):
        shutil.copyfile(r.path, corpus / f"clip{i}.wav")
        lines.append(f"clip{i}.wav,{r.label},{r.speaker}")
    (corpus / "manifest.csv").write_text("\n".join(lines) + "\n")
    assert main(["evaluate", str(heard_a), "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--device", "cpu",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"warning: 4 of the 8 clips are by speakers the model was trained on ({a})" in printed
    assert "not speaker-independent" in printed
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["trained_speakers"] == {a: 4}
