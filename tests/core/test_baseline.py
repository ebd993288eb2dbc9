"""The eGeMAPS + SVM peer baseline: features from openSMILE, the folds of `serwb train`, metrics
checked against scikit-learn, and the `serwb baseline egemaps` command."""

import json
import sys

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("opensmile")

from sklearn.metrics import accuracy_score, confusion_matrix, recall_score  # noqa: E402

from core.baseline import egemaps_features, evaluate_baseline  # noqa: E402
from core.cli import main  # noqa: E402
from core.data.corpora import load_manifest  # noqa: E402
from core.errors import ConfigError  # noqa: E402
from core.training import cv  # noqa: E402

SR = 16_000
SPEAKERS = ("s1", "s2", "s3", "s4")
#: emotion -> (F0 in Hz, amplitude, vibrato depth in Hz): clearly apart in pitch and loudness
EMOTIONS = {"angry": (220.0, 0.5, 12.0), "neutral": (120.0, 0.12, 0.0), "sad": (90.0, 0.04, 3.0)}
CLIPS_PER_CELL = 4


def _tone(f0, amp, vibrato, rng, seconds=0.5):
    """A harmonic tone (5 partials) with vibrato, a fade in/out and a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 + vibrato * np.sin(2 * np.pi * 5.5 * t)) / SR
    wave = sum(np.sin(h * phase) / h for h in range(1, 6))
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    wave = amp * envelope * wave / np.abs(wave).max() + 0.003 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """48 clips: 4 speakers x 3 emotions x 4 clips; manifest.csv, plus cue.csv with 2 planted-cue rows more."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    lines = []
    for s, speaker in enumerate(SPEAKERS):
        for label, (f0, amp, vibrato) in EMOTIONS.items():
            for c in range(CLIPS_PER_CELL):
                name = f"{speaker}_{label}_{c}.wav"
                jitter = 1 + 0.04 * (s - 1.5) + 0.02 * rng.standard_normal()
                sf.write(root / name, _tone(f0 * jitter, amp * (1 + 0.1 * rng.standard_normal()), vibrato, rng), SR,
                         subtype="FLOAT")
                lines.append(f"{name},{label},{speaker}")
    (root / "manifest.csv").write_text("path,label,speaker\n" + "\n".join(lines) + "\n", encoding="utf-8")
    cue = [f"{line},train" for line in lines]
    for label in ("angry", "sad"):  # planted-cue clips: never trained on
        sf.write(root / f"cue_{label}.wav", _tone(150.0, 0.2, 0.0, rng), SR, subtype="FLOAT")
        cue.append(f"cue_{label}.wav,{label},s1,cue")
    (root / "cue.csv").write_text("path,label,speaker,split\n" + "\n".join(cue) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def manifest(corpus):
    return load_manifest(corpus)


@pytest.fixture(scope="module")
def features(manifest):
    return egemaps_features(manifest, progress=False)


@pytest.fixture(scope="module")
def loso(manifest, features):
    return evaluate_baseline(manifest, folds=len(SPEAKERS), grouped=True, seed=0, progress=False, features=features)


def test_features_are_88_finite_egemaps_functionals_as_opensmile_computes_them(manifest, features):
    import opensmile

    assert features.shape == (len(manifest), 88) and np.isfinite(features).all()
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    for i in (0, len(manifest) - 1):  # openSMILE reading the file itself is the reference
        reference = smile.process_file(str(manifest.rows[i].path)).to_numpy().ravel()
        np.testing.assert_allclose(features[i], reference, rtol=1e-4, atol=1e-5)


def test_folds_are_the_training_folds_and_leave_one_speaker_out(manifest, loso):
    speakers = np.array([r.speaker for r in manifest.rows])
    expected = cv.folds(manifest, len(SPEAKERS), True, 0)
    assert loso["protocol"] == "leave-one-speaker-out (4 speakers)" and loso["k"] == 4 and loso["grouped"] is True
    assert sorted(s for f in loso["folds"] for s in f["test_speakers"]) == sorted(SPEAKERS)
    for fold, (train_idx, test_idx) in zip(loso["folds"], expected):
        assert fold["test_indices"] == test_idx.tolist()
        assert fold["test_speakers"] == sorted(set(speakers[test_idx])) and len(fold["test_speakers"]) == 1
        assert not set(speakers[train_idx]) & set(fold["test_speakers"])
        assert fold["train_clips"] == len(train_idx) and fold["test_clips"] == len(test_idx) == 12


def test_ua_is_clearly_above_chance_on_a_separable_corpus(loso):
    assert loso["chance_UA"] == pytest.approx(1 / 3)
    assert loso["mean"]["UA"] >= 0.9, loso["mean"]


def test_fold_metrics_match_scikit_learn_on_the_same_predictions(manifest, loso):
    labels = loso["labels"]
    for fold in loso["folds"]:
        y_true = [manifest.rows[i].label for i in fold["test_indices"]]
        y_pred = fold["predictions"]
        assert fold["UA"] == pytest.approx(recall_score(y_true, y_pred, labels=labels, average="macro"))
        assert fold["WA"] == pytest.approx(accuracy_score(y_true, y_pred))
        assert fold["ACC"] == pytest.approx((fold["UA"] + fold["WA"]) / 2)
        assert fold["confusion"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    for key in ("UA", "WA", "ACC"):
        values = [f[key] for f in loso["folds"]]
        assert loso["mean"][key] == pytest.approx(np.mean(values)) and loso["std"][key] == pytest.approx(np.std(values))


def test_protocol_names_for_fewer_folds_and_ungrouped_folds(manifest, features):
    grouped = evaluate_baseline(manifest, folds=2, grouped=True, progress=False, features=features)
    assert grouped["protocol"] == "speaker-independent 2-fold cross-validation"
    assert all(len(f["test_speakers"]) == 2 for f in grouped["folds"])
    shared = evaluate_baseline(manifest, folds=3, grouped=False, progress=False, features=features)
    assert shared["protocol"].startswith("stratified") and "speakers shared" in shared["protocol"]


def test_cli_drops_cue_clips_writes_metrics_and_prints_the_mean(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default --out: ./evaluation/baseline-egemaps-<corpus folder>
    assert main(["baseline", "egemaps", "--corpus", str(corpus / "cue.csv"), "--folds", "4", "--grouped",
                 "--quiet"]) == 0
    written = json.loads((tmp_path / "evaluation" / f"baseline-egemaps-{corpus.name}" / "metrics.json").read_text())
    assert written["clips"] == 48 and written["cue_clips_dropped"] == 2
    assert written["protocol"] == "leave-one-speaker-out (4 speakers)" and len(written["folds"]) == 4
    out = capsys.readouterr().out
    assert f"UA {written['mean']['UA']:.3f} +- {written['std']['UA']:.3f}" in out
    assert out.count("fold ") == 4 and "chance UA 0.333" in out


def test_cli_on_a_folder_without_audio_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no audio here\n")
    assert main(["baseline", "egemaps", "--corpus", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    # One error, no traceback: load_manifest's CorpusError (its message goes on to list the known layouts)
    assert err.startswith("serwb: No audio files") and "Traceback" not in err and err.count("serwb: ") == 1
    assert not (tmp_path / "out").exists()


def test_missing_opensmile_says_how_to_install(manifest, monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # makes `import opensmile` raise ImportError
    with pytest.raises(ConfigError, match="pip install opensmile"):
        egemaps_features(manifest, progress=False)


def test_speaker_normalisation_removes_each_voices_own_offset_and_scale(manifest, features, capsys, corpus):
    from core.baseline import speaker_normalised

    speakers = np.array([r.speaker for r in manifest.rows])
    rng = np.random.default_rng(3)
    # each speaker's voice as an affine change of every feature: far larger than the emotions' differences
    scale = {s: rng.uniform(0.5, 2.0, features.shape[1]) for s in SPEAKERS}
    shift = {s: rng.normal(0, 20, features.shape[1]) * features.std(0) for s in SPEAKERS}
    voiced = np.stack([features[i] * scale[s] + shift[s] for i, s in enumerate(speakers)])
    normalised = speaker_normalised(voiced, speakers)
    for s in SPEAKERS:
        block = normalised[speakers == s]
        np.testing.assert_allclose(block.mean(0), 0, atol=1e-9)
        np.testing.assert_allclose(block.std(0)[features[speakers == s].std(0) > 0], 1, atol=1e-9)
    np.testing.assert_allclose(normalised, speaker_normalised(features, speakers), atol=1e-7)

    plain = evaluate_baseline(manifest, folds=4, grouped=True, progress=False, features=voiced)
    normed = evaluate_baseline(manifest, folds=4, grouped=True, progress=False, features=voiced, speaker_norm=True)
    assert normed["mean"]["UA"] >= 0.9 > plain["mean"]["UA"] + 0.2, (normed["mean"], plain["mean"])
    assert normed["speaker_norm"] is True and "standardised per speaker" in normed["protocol"]
    assert main(["baseline", "egemaps", "--corpus", str(corpus), "--folds", "4", "--grouped", "--speaker-norm",
                 "--quiet", "--out", str(corpus / "out-norm")]) == 0
    assert "standardised per speaker" in capsys.readouterr().out


def _cue_set(root, clips, rng):
    """Planted-cue clips of speaker s1 with the real cue set's word-span columns: (name, words, planted, label)
    each, words being emotions of EMOTIONS spoken as tones, 0.2 s of background between two words."""
    lines = []
    for name, words, planted, label in clips:
        parts, starts, ends, at = [], [], [], 0
        for k, word in enumerate(words):
            if k:
                parts.append(0.003 * rng.standard_normal(int(0.2 * SR)).astype(np.float32))
                at += parts[-1].size
            parts.append(_tone(*EMOTIONS[word], rng))
            starts.append(at)
            at += parts[-1].size
            ends.append(at)
        sf.write(root / name, np.concatenate(parts), SR, subtype="FLOAT")
        lines.append(f"{name},{label},s1,cue,{starts[planted] / SR},{ends[planted] / SR},{starts[planted]},"
                     f"{';'.join(map(str, starts))},{';'.join(map(str, ends))}")
    (root / "manifest.csv").write_text("path,label,speaker,split,cue_start,cue_end,cue_start_sample,"
                                       "word_start_samples,word_end_samples\n" + "\n".join(lines) + "\n")
    return load_manifest(root)


def test_cue_ranking_asks_the_peer_which_word_it_hears_as_the_planted_emotion(manifest, features, tmp_path,
                                                                             capsys, corpus):
    from core.baseline import cue_ranking
    from core.errors import CorpusError

    rng = np.random.default_rng(5)
    cues = _cue_set(tmp_path, [
        ("true_angry.wav", ("neutral", "angry", "neutral"), 1, "angry"),  # the planted word is the angry one
        ("true_sad.wav", ("neutral", "neutral", "sad"), 2, "sad"),
        # decoys: the "planted" word is neutral and another word carries the emotion, so the peer ranks that first
        ("decoy_angry.wav", ("angry", "neutral", "neutral"), 1, "angry"),
        ("decoy_sad.wav", ("neutral", "sad", "neutral", "neutral"), 0, "sad"),
        ("unknown.wav", ("neutral", "angry", "neutral"), 1, "happy"),  # no happy clip to train on: left out
    ], rng)
    result = cue_ranking(manifest, cues, features=features, progress=False)
    assert result["clips"] == 4 and result["ranks_first"] == 0.5
    assert result["guessing"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 3 + 1 / 4) / 4)
    assert {label: part["ranks_first"] for label, part in result["by_emotion"].items()} == {"angry": 0.5, "sad": 0.5}
    assert result["by_emotion"]["sad"]["guessing"] == pytest.approx((1 / 3 + 1 / 4) / 2)
    normed = cue_ranking(manifest, cues, features=features, progress=False, speaker_norm=True)
    assert normed["ranks_first"] == 0.5 and normed["speaker_norm"] is True

    # the command: one line beside the fold scores, and the figures in metrics.json
    assert main(["baseline", "egemaps", "--corpus", str(corpus), "--folds", "4", "--grouped", "--cue",
                 str(tmp_path), "--quiet", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "ranks the planted word first in 0.500 of 4 cue clips (guessing 0.312; angry 0.500, sad 0.500)" in out
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())["cue_ranking"]
    assert written["ranks_first"] == 0.5 and written["corpus"] == str(tmp_path.resolve())

    # a cue set without word spans (the synthetic one) says what to build
    with pytest.raises(CorpusError, match="make real-cue"):
        cue_ranking(manifest, load_manifest(corpus / "cue.csv"), features=features, progress=False)
