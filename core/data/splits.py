"""Train/test splits of a ``Manifest``: stratified k-fold, speaker-independent k-fold, holdout.

Thin wrappers over scikit-learn's splitters that add what they leave out: a message a user
can act on when a corpus is too small for the split asked for. Every function returns
row indices (sorted int64 arrays) into ``manifest.rows``; ``Manifest.take`` turns them
back into manifests.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Optional, Sequence, Union

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, StratifiedKFold

from core.data.corpora import Manifest
from core.errors import ConfigError, CorpusError

Fold = tuple[np.ndarray, np.ndarray]  # (train indices, test indices)


def _labels(manifest_or_labels: Union[Manifest, Sequence[str]]) -> np.ndarray:
    if isinstance(manifest_or_labels, Manifest):
        return np.array([r.label for r in manifest_or_labels.rows])
    return np.asarray(list(manifest_or_labels))


def _check_k(k: int, labels: np.ndarray) -> None:
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ConfigError(f"k={k!r} folds: use an integer of at least 2 (5 is the usual choice).")
    rare = {lab: n for lab, n in Counter(labels.tolist()).items() if n < k}
    if rare:
        listed = ", ".join(f"{lab!r} ({n})" for lab, n in sorted(rare.items()))
        raise CorpusError(
            f"{k}-fold cross-validation needs at least {k} clips per label; too few for {listed}. "
            f"Use fewer folds, or drop those labels with Manifest.filter(label=[...])."
        )


def _as_folds(splits: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[Fold]:
    return [(np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64)) for tr, te in splits]


def stratified_folds(manifest_or_labels: Union[Manifest, Sequence[str]], k: int = 5, seed: int = 0) -> list[Fold]:
    """k folds whose label proportions match the whole (``StratifiedKFold(shuffle=True)``).

    Speakers may appear on both sides; use ``speaker_folds`` for speaker-independent results.
    """
    labels = _labels(manifest_or_labels)
    _check_k(k, labels)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return _as_folds(skf.split(np.zeros(len(labels)), labels))


def speaker_folds(manifest: Manifest, k: int = 5, seed: int = 0) -> list[Fold]:
    """k speaker-independent folds: no speaker is in both train and test of a fold, and
    label proportions are kept as close as the speakers allow (``StratifiedGroupKFold``)."""
    labels = _labels(manifest)
    speakers = np.array([r.speaker for r in manifest.rows])
    _check_k(k, labels)
    n_speakers = len(set(speakers.tolist()))
    if n_speakers < k:
        hint = (
            "This corpus does not name its speakers; add a speaker column in a manifest.csv, or use stratified_folds."
            if set(speakers.tolist()) == {"unknown"}
            else f"Use k <= {n_speakers}, or stratified_folds when speaker independence is not needed."
        )
        raise CorpusError(
            f"{k} speaker-independent folds need at least {k} speakers; {manifest.corpus} has {n_speakers}. {hint}"
        )
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return _as_folds(sgkf.split(np.zeros(len(labels)), labels, groups=speakers))


def has_split(manifest: Manifest) -> bool:
    """Whether every row carries a ``split`` value (as the demo corpus does), so the corpus says which clips test."""
    return bool(manifest.rows) and all("split" in r.extra for r in manifest.rows)


def holdout(
    manifest: Manifest,
    test_speakers: Optional[Iterable[str]] = None,
    *,
    test_size: float = 0.2,
    seed: int = 0,
) -> Fold:
    """One train/test split, chosen in this order:

    1. ``test_speakers`` given: those speakers are the test set, everyone else trains.
    2. The rows carry a ``split`` field (as the demo corpus does): "train" rows train,
       "test" rows test; rows with any other value (e.g. "val") are in neither.
    3. Otherwise about ``test_size`` of the speakers, drawn with ``seed``, are the test set
       (``GroupShuffleSplit``), so no speaker is on both sides.
    """
    speakers = np.array([r.speaker for r in manifest.rows])
    known = set(speakers.tolist())
    if test_speakers is not None:
        wanted = {test_speakers} if isinstance(test_speakers, str) else set(test_speakers)
        unknown = sorted(wanted - known)
        if unknown:
            raise CorpusError(
                f"Unknown test speaker(s) {', '.join(unknown)}; {manifest.corpus} has: {', '.join(sorted(known))}."
            )
        is_test = np.isin(speakers, list(wanted))
        train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    elif has_split(manifest):
        split = np.array([r.extra["split"].strip().lower() for r in manifest.rows])
        train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
        if not len(train) or not len(test):
            raise CorpusError(
                f"The 'split' column of {manifest.corpus} needs both 'train' and 'test' rows; "
                f"it has {', '.join(sorted(set(split.tolist())))}. Fix the column, or pass test_speakers=[...]."
            )
    else:
        if not 0 < test_size < 1:
            raise ConfigError(f"test_size={test_size!r}: use a share of the speakers between 0 and 1, e.g. 0.2.")
        if len(known) < 2:
            raise CorpusError(
                f"A speaker holdout needs at least 2 speakers; {manifest.corpus} has {len(known)}. "
                "Add a speaker or split column in a manifest.csv, or use stratified_folds."
            )
        gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train, test = next(gss.split(np.zeros(len(speakers)), groups=speakers))
    if not len(train) or not len(test):
        raise CorpusError(
            f"This holdout leaves the {'training' if not len(train) else 'test'} set empty. "
            "Choose fewer test speakers."
        )
    return np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)
