"""k-fold cross-validation (S0: stratified 5-fold; S1: speaker-independent folds).

``cross_validate`` trains one model per fold with ``loop.fit`` (each in ``out_dir/fold-i``)
and evaluates it on the held-out fold. Folds come from ``core.data.splits``:
``stratified_folds`` keeps label proportions; ``grouped=True`` uses ``speaker_folds`` so no
speaker is on both sides of a fold. All folds share one label list (the whole manifest's).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from core.data.corpora import Manifest
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
    its ``test_speakers``, and ``protocol`` says what the folds amount to (``protocol_name``). Fold ``i``'s
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
        result = fit(manifest.take(train_idx), cfg, out_dir / f"fold-{i}", labels=labels, resume=resume,
                     progress=progress)
        device = next(result.model.parameters()).device
        scores = evaluate(result.model, manifest.take(test_idx), card=result.card, device=device, workers=cfg.workers)
        speakers = sorted({manifest.rows[j].speaker for j in test_idx})
        scores |= {"fold": i, "train_clips": int(len(train_idx)), "test_clips": int(len(test_idx)),
                   "test_speakers": speakers}
        results.append(scores)
    mean, std = metrics.mean_std(results)
    return {"k": k, "grouped": grouped, "protocol": protocol_name(grouped, [r["test_speakers"] for r in results]),
            "folds": results, "mean": mean, "std": std}


def protocol_name(grouped: bool, test_speakers: Sequence[Sequence[str]]) -> str:
    """What k folds amount to: "leave-one-speaker-out" when every test fold is one speaker, else
    "speaker-independent k-fold" (grouped) or "stratified k-fold (speakers shared between folds)"."""
    k = len(test_speakers)
    if not grouped:
        return f"stratified {k}-fold cross-validation (speakers shared between folds)"
    if all(len(s) == 1 for s in test_speakers):
        return f"leave-one-speaker-out ({k} speakers)"
    return f"speaker-independent {k}-fold cross-validation"
