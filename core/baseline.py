"""The eGeMAPS + SVM peer baseline: a standard, model-free reference point for SER results.

eGeMAPSv02 functionals (Eyben et al. 2016, IEEE Trans. Affective Computing 7(2): 88 features
per clip) from openSMILE's Python package, standardised and classified with an RBF SVM
(scikit-learn). ``evaluate_baseline`` scores it on the folds ``serwb train --folds K
[--grouped]`` uses (``core.training.cv.folds``), so the two are compared fold for fold.

``speaker_norm`` standardises each speaker's features by that speaker's own mean and standard deviation
(speaker normalisation, e.g. Busso et al. 2011; Schuller et al. 2010), using no labels: a test speaker is
normalised by the statistics of all of their clips, so the protocol needs several clips per unseen speaker and
is named as such. It removes a voice's own pitch, loudness and timbre, which is what a speaker-independent
model most often mistakes for emotion.
"""

from __future__ import annotations

import warnings

import numpy as np

from core.data.corpora import Manifest
from core.errors import AudioError, ConfigError, CorpusError

SAMPLE_RATE = 16_000
N_FEATURES = 88  # eGeMAPSv02 functionals
DESCRIPTION = "eGeMAPSv02 functionals + standardised RBF SVM (C=1, gamma=scale, balanced class weights)"


def _smile():
    """An openSMILE extractor of eGeMAPSv02 functionals; a ``ConfigError`` when opensmile is missing."""
    try:
        import opensmile
    except ImportError as e:
        raise ConfigError(
            "The eGeMAPS baseline needs openSMILE's Python package: pip install opensmile "
            '(or pip install -e ".[baseline]").'
        ) from e
    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)


def egemaps_features(manifest: Manifest, progress: bool = True) -> np.ndarray:
    """``(N, 88)`` float64 eGeMAPSv02 functionals, one row per clip of ``manifest`` (16 kHz mono)."""
    from tqdm import tqdm

    from core.audio import load_audio

    smile = _smile()
    out = np.zeros((len(manifest), N_FEATURES), dtype=np.float64)
    for i, row in enumerate(tqdm(manifest.rows, desc="eGeMAPS", unit="clip", disable=not progress)):
        out[i] = _functionals(smile, load_audio(row.path, SAMPLE_RATE).wave.numpy(), f"'{row.path.name}'")
    return out


def _functionals(smile, wave: np.ndarray, what: str) -> np.ndarray:
    """The 88 functionals of one 16 kHz ``wave``; an ``AudioError`` naming ``what`` when it is too short."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Segment too short": handled below
        out = smile.process_signal(wave, SAMPLE_RATE).to_numpy(dtype=np.float64).ravel()
    if not np.isfinite(out).all():
        raise AudioError(f"{what} ({wave.size / SAMPLE_RATE:.3f} s) is too short for eGeMAPS "
                         "functionals (openSMILE gave NaN). Remove it from the corpus or its manifest.")
    return out


def speaker_normalised(features: np.ndarray, speakers) -> np.ndarray:
    """``features`` with each speaker's rows standardised by that speaker's mean and standard deviation
    (scikit-learn's ``StandardScaler`` fitted per speaker; a feature constant for one speaker becomes 0)."""
    from sklearn.preprocessing import StandardScaler

    speakers = np.asarray(speakers)
    out = np.empty_like(features, dtype=np.float64)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = StandardScaler().fit_transform(features[rows])
    return out


def make_classifier():
    """``StandardScaler`` + RBF ``SVC(C=1, gamma="scale", class_weight="balanced")``."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(),
                         SVC(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced"))


def _fold(features, y, train_idx, test_idx, labels, speakers) -> dict:
    """Fit on ``train_idx``, predict ``test_idx``: metrics plus predictions as label names."""
    from core.training import metrics

    if len(set(y[train_idx].tolist())) < 2:
        raise CorpusError("A training fold holds clips of only one emotion; use fewer folds or a larger corpus.")
    model = make_classifier().fit(features[train_idx], y[train_idx])
    pred = model.predict(features[test_idx])
    scores = metrics.summary(y[test_idx], pred, labels)
    return scores | {
        "test_speakers": sorted(set(speakers[test_idx].tolist())),
        "train_clips": int(len(train_idx)), "test_clips": int(len(test_idx)),
        "test_indices": test_idx.tolist(), "predictions": [labels[int(p)] for p in pred],
    }


def evaluate_baseline(manifest: Manifest, folds: int = 5, grouped: bool = True, seed: int = 0,
                      progress: bool = True, features: np.ndarray | None = None, speaker_norm: bool = False) -> dict:
    """Per-fold WA/UA/ACC of the eGeMAPS + SVM baseline on the folds of ``core.training.cv.folds``.

    ``features`` (``(N, 88)``, from ``egemaps_features``) skips the extraction. Each fold also
    carries ``test_indices`` (rows of ``manifest``) and ``predictions`` (label names). ``speaker_norm``:
    each speaker's features standardised by that speaker's own statistics first (``speaker_normalised``).
    """
    from core.training import cv, metrics

    if not len(manifest):
        raise CorpusError(f"The {manifest.corpus} manifest has no clips to evaluate the baseline on.")
    splits = cv.folds(manifest, folds, grouped, seed)
    features = egemaps_features(manifest, progress=progress) if features is None else np.asarray(features)
    labels = manifest.labels()
    y = np.array([labels.index(r.label) for r in manifest.rows], dtype=np.int64)
    speakers = np.array([r.speaker for r in manifest.rows])
    if speaker_norm:
        features = speaker_normalised(features, speakers)
    results = [_fold(features, y, tr, te, labels, speakers) | {"fold": i}
               for i, (tr, te) in enumerate(splits, start=1)]
    mean, std = metrics.mean_std(results)
    protocol = cv.protocol_name(grouped, [r["test_speakers"] for r in results])
    if speaker_norm:
        protocol += ", features standardised per speaker (each speaker by all of their own clips, labels unused)"
    return {"baseline": DESCRIPTION, "protocol": protocol, "speaker_norm": speaker_norm,
            "k": folds, "grouped": grouped, "seed": seed, "labels": labels, "chance_UA": 1.0 / len(labels),
            "folds": results, "mean": mean, "std": std}


def cue_ranking(manifest: Manifest, cues: Manifest, *, speaker_norm: bool = False,
                features: np.ndarray | None = None, progress: bool = True) -> dict:
    """How often the peer hears a real planted-cue clip's planted word as the most angry (fearful, ...) of the
    clip's words: the baseline's side of ``core.explain.tables.cue_word_first``, so that a model's figure, the most
    a map faithful to it can point at the word, has a peer's beside it.

    For each clip of ``cues`` that records its words' spans (``core.data.real_cue.word_spans``) and whose label
    ``manifest`` has, the SVM is fitted on ``manifest``'s clips of every other speaker; each word, cut out and
    heard alone, gets its probability of the clip's label (sigmoid calibration, scikit-learn's
    ``CalibratedClassifierCV``), and the planted word is ranked first when its probability is the highest. With
    ``speaker_norm`` the words are standardised by the clip's speaker's clips in ``manifest``, as
    ``evaluate_baseline`` normalises a test speaker. ``features``: ``manifest``'s, from ``egemaps_features``.
    Returns ``ranks_first``, ``clips`` and ``guessing`` (the mean of 1 / words per clip), overall and per emotion.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.preprocessing import StandardScaler
    from tqdm import tqdm

    from core.audio import load_audio
    from core.data.real_cue import word_spans

    labels = manifest.labels()
    usable = [(row, word_spans(row)) for row in cues.rows if row.label in labels]
    usable = [(row, found) for row, found in usable if found is not None]
    if not usable:
        raise CorpusError(f"No clip at {cues.root} records its words' spans with an emotion of {manifest.corpus} "
                          f"({', '.join(labels)}): build a real planted-cue set with make real-cue.")
    features = egemaps_features(manifest, progress=progress) if features is None else np.asarray(features)
    speakers = np.array([r.speaker for r in manifest.rows])
    y = np.array([labels.index(r.label) for r in manifest.rows], dtype=np.int64)
    train_features = speaker_normalised(features, speakers) if speaker_norm else features
    smile, fitted, hits = _smile(), {}, {}
    for row, (spans, cue) in tqdm(usable, desc="peer on cue words", unit="clip", disable=not progress):
        if row.speaker not in fitted:
            others = speakers != row.speaker
            if not others.any():
                raise CorpusError(f"{manifest.corpus} has no speaker but {row.speaker}: the peer cannot be trained "
                                  "on other voices.")
            own = features[~others]
            scaler = StandardScaler().fit(own) if speaker_norm and len(own) else None
            if speaker_norm and scaler is None:
                raise CorpusError(f"--speaker-norm: {manifest.corpus} has no clip of {row.speaker} to normalise "
                                  "their words by.")
            peer = CalibratedClassifierCV(make_classifier(), method="sigmoid", ensemble=False)
            fitted[row.speaker] = (peer.fit(train_features[others], y[others]), scaler)
        peer, scaler = fitted[row.speaker]
        wave = load_audio(row.path, SAMPLE_RATE).wave.numpy()
        words = np.stack([_functionals(smile, wave[s:e], f"a word of '{row.path.name}'") for s, e in spans])
        if scaler is not None:
            words = scaler.transform(words)
        column = list(peer.classes_).index(labels.index(row.label))
        first = int(np.argmax(peer.predict_proba(words)[:, column])) == cue
        hits.setdefault(row.label, []).append((first, 1.0 / len(spans)))

    def summary(pairs) -> dict:
        return {"ranks_first": float(np.mean([h for h, _ in pairs])), "clips": len(pairs),
                "guessing": float(np.mean([g for _, g in pairs]))}

    return summary([p for pairs in hits.values() for p in pairs]) | {
        "speaker_norm": speaker_norm, "by_emotion": {label: summary(pairs) for label, pairs in sorted(hits.items())}}
