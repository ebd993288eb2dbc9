"""Dataset-level analysis on the shipped demo cnn-eca and a slice of the shipped demo corpus."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import load
from core.data.corpora import Manifest, Row, load_manifest
from core.errors import CorpusError
from core.explain.dataset import analyze_dataset
from core.training import evaluate

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def shipped():
    model, card = load(ROOT / "assets" / "models" / "cnn-eca", device="cpu")
    return model, card


@pytest.fixture(scope="module")
def demo_slice():
    """Four test clips per emotion plus three planted-cue clips."""
    manifest = load_manifest(ROOT / "assets" / "demo")
    per_label: dict[str, list[Row]] = {}
    for row in manifest.filter(split="test").rows:
        per_label.setdefault(row.label, []).append(row)
    cues = manifest.filter(split="cue").rows[::6]
    return replace(manifest, rows=tuple(r for rows in per_label.values() for r in rows[:4]) + tuple(cues))


@pytest.fixture(scope="module")
def result(shipped, demo_slice):
    seen = []
    analysis = analyze_dataset(*shipped, demo_slice, device="cpu", progress=lambda f, msg: seen.append(f))
    return analysis, seen


def test_metrics_and_confusion_agree_with_the_training_evaluation(shipped, demo_slice, result):
    analysis, _ = result
    model, card = shipped
    plain = replace(demo_slice, rows=tuple(r for r in demo_slice.rows if r.extra.get("split") != "cue"))
    reference = evaluate(model, plain, card=card, device="cpu")
    assert analysis.metrics["UA"] == pytest.approx(reference["UA"])
    assert analysis.metrics["WA"] == pytest.approx(reference["WA"])
    assert analysis.confusion.sum() == len(plain.rows) == len(analysis.paths)
    assert np.array_equal(analysis.confusion, np.asarray(reference["confusion"]))
    assert np.allclose(analysis.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_confusion_cells_list_their_clips(result):
    analysis, _ = result
    for t in range(len(analysis.labels)):
        for p in range(len(analysis.labels)):
            assert len(analysis.cell(t, p)) == analysis.confusion[t, p]
    true_angry = analysis.labels.index("angry")
    assert all("_angry" in Path(p).name for p in sum((analysis.cell(true_angry, p) for p in range(4)), []))


def test_embeddings_tsne_profiles_eca_and_localisation(result):
    analysis, seen = result
    n = len(analysis.paths)
    assert analysis.embeddings.shape[0] == n and analysis.tsne.shape == (n, 2)
    assert np.isfinite(analysis.tsne).all()
    profiles = analysis.frequency_profiles["gradcam"]
    assert set(profiles) == set(analysis.labels)
    assert all(p.shape == analysis.band_hz.shape for p in profiles.values())
    assert set(analysis.eca) == {"blocks.4.eca", "blocks.5.eca"}
    for profile in analysis.eca.values():
        assert profile.count.tolist() == [4, 4, 4, 4]
        assert ((profile.mean > 0) & (profile.mean < 1)).all()
    (row,) = analysis.localisation
    assert row["method"] == "gradcam" and row["clips"] == 3 and 0 <= row["inside_share"] <= 1
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_a_corrupt_clip_is_skipped_with_its_reason(shipped, demo_slice, tmp_path):
    bad = tmp_path / "broken_angry.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    good = demo_slice.rows[0]
    manifest = Manifest(root=tmp_path, corpus="csv", rows=(good, Row(path=bad, label="angry", speaker="x", corpus="csv")))
    analysis = analyze_dataset(*shipped, manifest, device="cpu")
    assert analysis.paths == [str(good.path)]
    assert str(bad) in analysis.skipped and "WAV" in analysis.skipped[str(bad)].upper()
    assert analysis.tsne is None  # too few clips for a meaningful t-SNE


def test_unknown_labels_are_predicted_but_not_scored(shipped, demo_slice):
    rows = tuple(replace(r, label="calm") if i == 0 else r for i, r in enumerate(demo_slice.rows[:6]))
    analysis = analyze_dataset(*shipped, replace(demo_slice, rows=rows), device="cpu")
    assert analysis.true[0] == -1 and len(analysis.paths) == 6
    assert analysis.confusion.sum() == 5


def test_unknown_label_counts_their_predictions_and_the_chance_level_are_reported(shipped, demo_slice):
    model, card = shipped
    plain = [r for r in demo_slice.rows if r.extra.get("split") != "cue"][:8]
    rows = tuple(replace(r, label="fearful") if i in (0, 5) else replace(r, label="calm") if i == 3 else r
                 for i, r in enumerate(plain))
    manifest = replace(demo_slice, rows=rows)
    analysis = analyze_dataset(model, card, manifest, device="cpu")
    assert analysis.unknown_labels == {"calm": 1, "fearful": 2} and analysis.n_unknown == 3
    assert analysis.unknown_paths["fearful"] == [str(plain[0].path), str(plain[5].path)]
    assert analysis.confusion.sum() == 5 and len(analysis.paths) == 8
    assert analysis.metrics["unknown_labels"] == {"calm": 1, "fearful": 2} and analysis.metrics["n_unknown"] == 3
    assert analysis.metrics["chance_UA"] == 1 / len(card.labels) == 0.25
    unscored = analysis.unknown_predicted()
    for label, row in unscored.items():  # every unknown clip is predicted as one of the model's classes
        assert row.shape == (4,) and row.sum() == analysis.unknown_labels[label]
        for j in range(4):
            assert len(analysis.unknown_cell(label, j)) == row[j]
    # the scored part is what core.training.evaluate makes of the same corpus (it skips the unknown labels too)
    reference = evaluate(model, manifest, card=card, device="cpu")
    assert reference["unknown_labels"] == analysis.metrics["unknown_labels"]
    assert np.array_equal(analysis.confusion, np.asarray(reference["confusion"]))
    assert analysis.metrics["UA"] == pytest.approx(reference["UA"])


def test_an_empty_manifest_is_a_clear_error(shipped, tmp_path):
    with pytest.raises(CorpusError, match="No clips"):
        analyze_dataset(*shipped, Manifest(root=tmp_path, corpus="csv", rows=()), device="cpu")
