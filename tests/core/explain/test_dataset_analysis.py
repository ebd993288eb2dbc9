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
    assert not analysis.cue_scored  # the slice's cue clips feed only the localisation table
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


# ----------------------------------------------------------------------------- speaker adaptation (AdaBN)


@pytest.fixture(scope="module")
def speaker_corpus(tone_corpus):
    """The 20 tone clips (2.0-2.8 s, padded to the model's 3 s) of speakers s0 and s1 (8 each) and s2 (4 clips:
    fewer than MIN_CLIPS)."""
    manifest = load_manifest(tone_corpus("speakers", 2.0, 0.2))
    rows = tuple(replace(r, speaker="s2") if r.path.stem.endswith("4") else r for r in manifest.rows)
    return replace(manifest, rows=rows)


@pytest.fixture(scope="module")
def both_ways(shipped, speaker_corpus):
    """(trained, adapted) analyses of the speaker corpus."""
    model, card = shipped
    return (analyze_dataset(model, card, speaker_corpus, device="cpu"),
            analyze_dataset(model, card, speaker_corpus, device="cpu", adapt_speakers=True))


def _speaker_features(card, manifest, speaker):
    """Row indices and features (decoded as the model was trained) of one speaker's clips."""
    from core.features import frontend
    from core.training.loop import decode

    index = [i for i, r in enumerate(manifest.rows) if r.speaker == speaker]
    mine = replace(manifest, rows=tuple(manifest.rows[i] for i in index))
    data = decode(mine, None, seconds=card.training["seconds"], sample_rate=card.features.sample_rate,
                  padding=card.padding)
    return index, frontend(card.features, "cpu")(data.waves)


def test_adapted_probabilities_are_each_speakers_adabn_model(shipped, speaker_corpus, both_ways):
    import torch

    from core.training.adapt import MIN_CLIPS, adapted

    model, card = shipped
    trained, adapted_run = both_ways
    assert adapted_run.paths == trained.paths == [str(r.path) for r in speaker_corpus.rows]
    for speaker in ("s0", "s1"):
        index, features = _speaker_features(card, speaker_corpus, speaker)
        assert len(index) >= MIN_CLIPS
        mine = adapted(model, [features])
        with torch.no_grad():
            expected = torch.softmax(mine(features), dim=-1).numpy()
            embedded = mine.embed(features).numpy()
        np.testing.assert_allclose(adapted_run.probabilities[index], expected, atol=1e-5)
        np.testing.assert_allclose(adapted_run.embeddings[index], embedded, atol=1e-4)
        assert np.abs(adapted_run.probabilities[index] - trained.probabilities[index]).max() > 1e-3
    assert adapted_run.adaptation["speakers"] == {"s0": 8, "s1": 8, "s2": 4}
    assert adapted_run.adaptation["unadapted"] == {"s2": 4} and adapted_run.adaptation["min_clips"] == MIN_CLIPS
    assert trained.adaptation is None


def test_a_speaker_below_min_clips_stays_as_trained_and_the_shared_model_is_untouched(shipped, speaker_corpus,
                                                                                      both_ways):
    model, card = shipped
    trained, adapted_run = both_ways
    few = [i for i, r in enumerate(speaker_corpus.rows) if r.speaker == "s2"]
    np.testing.assert_allclose(adapted_run.probabilities[few], trained.probabilities[few], atol=1e-6)
    again = analyze_dataset(model, card, replace(speaker_corpus, rows=speaker_corpus.rows[:4]), device="cpu")
    np.testing.assert_allclose(again.probabilities, trained.probabilities[:4], atol=1e-6)  # shared model unchanged


def test_adapted_eca_profiles_pool_each_clips_own_models_gates(shipped, speaker_corpus, both_ways):
    from core.explain.eca import eca_gates
    from core.training.adapt import adapted

    model, card = shipped
    _, adapted_run = both_ways
    gates: dict[str, list] = {}
    for speaker in ("s0", "s1", "s2"):
        index, features = _speaker_features(card, speaker_corpus, speaker)
        chosen = adapted(model, [features]) if speaker != "s2" else model
        for tap, values in eca_gates(chosen, features).items():
            gates.setdefault(tap, []).extend(zip(index, values))
    for tap, profile in adapted_run.eca.items():
        for label_index, label in enumerate(adapted_run.labels):
            values = np.stack([g for i, g in gates[tap] if speaker_corpus.rows[i].label == label])
            assert profile.count[label_index] == len(values)
            np.testing.assert_allclose(profile.mean[label_index], values.mean(axis=0), atol=1e-5)
            np.testing.assert_allclose(profile.std[label_index], values.std(axis=0), atol=1e-4)


def test_adapted_and_trained_analyses_have_different_keys(shipped, speaker_corpus, both_ways):
    from core.explain.dataset import dataset_key

    _, card = shipped
    trained, adapted_run = both_ways
    assert trained.key != adapted_run.key
    assert dataset_key(speaker_corpus, card, ("gradcam",), None) == trained.key
    assert dataset_key(speaker_corpus, card, ("gradcam",), None, adapt_speakers=True) == adapted_run.key


def test_adapting_needs_batchnorm_and_named_speakers(shipped, speaker_corpus):
    from core.errors import ConfigError
    from core.models import build

    model, card = shipped
    with pytest.raises(ConfigError, match="no BatchNorm layers"):
        analyze_dataset(build("vggish", 4), card, speaker_corpus, device="cpu", adapt_speakers=True)
    nameless = replace(speaker_corpus, rows=tuple(replace(r, speaker="unknown") for r in speaker_corpus.rows))
    with pytest.raises(CorpusError, match="names no speakers"):
        analyze_dataset(model, card, nameless, device="cpu", adapt_speakers=True)


def test_adapted_metrics_match_evaluate_and_cue_clips_are_explained_by_their_speakers_model(shipped, demo_slice):
    from core.explain.tables import localisation_results, summarise_localisation
    from core.training.adapt import adapted

    model, card = shipped
    analysis = analyze_dataset(model, card, demo_slice, device="cpu", adapt_speakers=True)
    plain = replace(demo_slice, rows=tuple(r for r in demo_slice.rows if r.extra.get("split") != "cue"))
    reference = evaluate(model, plain, card=card, device="cpu", adapt_speakers=True)  # the card's adapted figure
    assert analysis.metrics["UA"] == pytest.approx(reference["UA"])
    assert np.array_equal(analysis.confusion, np.asarray(reference["confusion"]))
    assert analysis.adaptation == reference["adaptation"] and analysis.adaptation["unadapted"] == {}

    (speaker,) = analysis.adaptation["speakers"]  # the slice's 16 test clips are one speaker's
    _, features = _speaker_features(card, plain, speaker)
    mine = adapted(model, [features])
    cues = [r for r in demo_slice.rows if r.extra.get("split") == "cue"]
    per_method: dict[str, list] = {}
    planted = []
    for chosen, rows in ((mine, [r for r in cues if r.speaker == speaker]),
                         (model, [r for r in cues if r.speaker != speaker])):
        assert rows
        for name, results in localisation_results(chosen, card, replace(demo_slice, rows=tuple(rows)),
                                                  ("gradcam",), device="cpu").items():
            per_method.setdefault(name, []).extend(results)
        planted += [r.label for r in rows]
    expected = summarise_localisation(per_method)["gradcam"]
    (row,) = analysis.localisation
    assert row["clips"] == expected["clips"] == 3
    assert row["inside_share"] == pytest.approx(expected["inside_share"], abs=1e-6)
    assert row["pointing_accuracy"] == pytest.approx(expected["pointing_accuracy"])
    assert set(planted) == {"angry"} and analysis.localisation_by_emotion == []  # one emotion: nothing to split
