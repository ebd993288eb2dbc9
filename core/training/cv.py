"""k-fold cross-validation (S0: stratified 5-fold; S1: speaker-independent folds).

``cross_validate`` trains one model per fold with ``loop.fit`` (each in ``out_dir/fold-i``)
and evaluates it on the held-out fold. Folds come from ``core.data.splits``:
``stratified_folds`` keeps label proportions; ``grouped=True`` uses ``speaker_folds`` so no
speaker is on both sides of a fold. All folds share one label list (the whole manifest's).

Early stopping (``cfg.patience > 0``) watches one of the fold's *training* speakers
(``validation_split``, rotating with the fold index), never the test speaker, and that speaker does not
train. ``final_epochs`` turns the folds' best epochs into the epoch count of a model trained on
every clip, which has no speaker left to watch.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Sequence

from core.data.corpora import Manifest
from core.errors import CorpusError
from core.training import metrics
from core.training.loop import TrainConfig, evaluate, fit


def folds(manifest: Manifest, k: int, grouped: bool = False, seed: int = 0):
    """Row-index folds of ``manifest``: speaker-independent when ``grouped``."""
    from core.data.splits import speaker_folds, stratified_folds  # scikit-learn: imported only when needed

    return speaker_folds(manifest, k, seed=seed) if grouped else stratified_folds(manifest, k, seed=seed)


def cross_validate(manifest: Manifest, cfg: TrainConfig, k: int = 5, grouped: bool = False, *,
                   out_dir: str | Path | None = None, labels: Sequence[str] | None = None, resume: bool = False,
                   progress: bool = True) -> dict:
    """Per-fold metrics (WA, UA, ACC, per-class recall, confusion) plus their mean and std.

    Returns ``{"k", "grouped", "protocol", "folds": [...], "mean": {...}, "std": {...}}``; each fold names
    its ``test_speakers``, and ``protocol`` says what the folds amount to (``protocol_name``). A model adapted to
    each test speaker (``speaker_batches``) is also scored as trained, clip by clip: each fold's ``unadapted`` and
    the result's ``unadapted`` (``{"mean", "std"}``) hold those figures. Fold ``i``'s
    model stays in ``out_dir/fold-i/model``; without ``out_dir`` the fold models go to a
    temporary folder that is removed afterwards.
    """
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="serwb-cv-") as tmp:
            return cross_validate(manifest, cfg, k, grouped, out_dir=tmp, labels=labels, progress=progress)
    labels = list(labels) if labels is not None else manifest.labels()
    out_dir = Path(out_dir)
    results = []
    for i, (train_idx, test_idx) in enumerate(folds(manifest, k, grouped, cfg.seed), start=1):
        train, val = manifest.take(train_idx), None
        if cfg.patience:
            train, val = validation_split(train, i - 1)
        result = fit(train, cfg, out_dir / f"fold-{i}", labels=labels, resume=resume, progress=progress,
                     val_manifest=val)
        device = next(result.model.parameters()).device
        scores = evaluate(result.model, manifest.take(test_idx), card=result.card, device=device, workers=cfg.workers)
        speakers = sorted({manifest.rows[j].speaker for j in test_idx})
        scores |= {"fold": i, "train_clips": len(train), "test_clips": int(len(test_idx)),
                   "test_speakers": speakers}
        if "early_stopping" in result.card.metrics:
            scores["early_stopping"] = result.card.metrics["early_stopping"]
        results.append(scores)
    mean, std = metrics.mean_std(results)
    found = {"k": k, "grouped": grouped, "protocol": protocol_name(grouped, [r["test_speakers"] for r in results]),
             "folds": results, "mean": mean, "std": std}
    if all("unadapted" in r for r in results):
        found["protocol"] += f"; {ADAPTED}"
        plain_mean, plain_std = metrics.mean_std([r["unadapted"] for r in results])
        found["unadapted"] = {"mean": plain_mean, "std": plain_std}
    return found


#: how an adapted fold was predicted (``core.training.adapt``), added to its protocol's name
ADAPTED = "each test speaker's clips predicted with BatchNorm statistics of that speaker's unlabelled clips (AdaBN)"


def protocol_name(grouped: bool, test_speakers: Sequence[Sequence[str]]) -> str:
    """What k folds amount to: "leave-one-speaker-out" when every test fold is one speaker, else
    "speaker-independent k-fold" (grouped) or "stratified k-fold (speakers shared between folds)"."""
    k = len(test_speakers)
    if not grouped:
        return f"stratified {k}-fold cross-validation (speakers shared between folds)"
    if all(len(s) == 1 for s in test_speakers):
        return f"leave-one-speaker-out ({k} speakers)"
    return f"speaker-independent {k}-fold cross-validation"


def validation_split(manifest: Manifest, index: int = 0) -> tuple[Manifest, Manifest]:
    """(train, validation): the ``index``-th speaker (cycling through the sorted speakers) held out to watch."""
    speakers = manifest.speakers()
    if len(speakers) < 2 or speakers == ["unknown"]:
        raise CorpusError(
            f"Early stopping holds out one training speaker to watch, and {manifest.corpus}'s training set has "
            f"{'no named speakers' if speakers == ['unknown'] else 'one speaker'}. Name the speakers (a speaker column "
            "in a manifest.csv) or train without early stopping (patience 0)."
        )
    watched = speakers[index % len(speakers)]
    return manifest.filter(speaker=[s for s in speakers if s != watched]), manifest.filter(speaker=watched)


def final_epochs(cv: dict) -> int | None:
    """Epochs for the model trained on every clip: the median of the folds' early-stopped best epochs (None
    when the folds did not stop early)."""
    best = [f["early_stopping"]["best_epoch"] for f in cv["folds"] if "early_stopping" in f]
    return max(1, round(statistics.median(best))) if best else None
