"""Classification metrics of the SER literature: WA, UA, ACC = (UA + WA) / 2, per-class recall.

* **WA** (weighted accuracy) is plain accuracy: correct / all.
* **UA** (unweighted accuracy) is the mean of the per-class recalls over the classes that
  occur in ``y_true`` (scikit-learn's ``balanced_accuracy_score``).
* **ACC** is S0's summary number, the mean of the two.
* **F1** is the macro-averaged F1 score over the classes that occur in ``y_true`` or ``y_pred`` (scikit-learn's
  ``f1_score(average="macro")``; S3 reports it).

The confusion matrix follows scikit-learn: rows are true classes, columns predicted ones.
Inputs may be torch tensors, NumPy arrays or lists of class indices.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch




def _as_indices(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.int64).ravel()
    return array


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """``(C, C)`` int64 counts, ``[i, j]`` = clips of true class i predicted as j."""
    t, p = _as_indices(y_true), _as_indices(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} entries but y_pred has {p.size}.")
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= num_classes):
        raise ValueError(f"Class indices must lie in [0, {num_classes}).")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_recall(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Recall per class ``(C,)``; NaN for a class with no true examples (its recall is undefined)."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def weighted_accuracy(y_true, y_pred) -> float:
    """WA: share of correct predictions."""
    t, p = _as_indices(y_true), _as_indices(y_pred)
    return float((t == p).mean()) if t.size else float("nan")


def unweighted_accuracy(y_true, y_pred, num_classes: int | None = None) -> float:
    """UA: mean recall over the classes present in ``y_true``."""
    recall = per_class_recall(y_true, y_pred, num_classes)
    present = ~np.isnan(recall)
    return float(recall[present].mean()) if present.any() else float("nan")


def macro_f1(y_true, y_pred) -> float:
    """F1: the unweighted mean of the per-class F1 scores (scikit-learn, classes in either array; 0 where undefined)."""
    from sklearn.metrics import f1_score

    t, p = _as_indices(y_true), _as_indices(y_pred)
    return float(f1_score(t, p, average="macro", zero_division=0)) if t.size else float("nan")


def summary(y_true, y_pred, labels: Sequence[str]) -> dict:
    """JSON-able metrics: WA, UA, ACC, F1, per-class recall (None where undefined), confusion, n."""
    labels = list(labels)
    n = len(labels)
    wa = weighted_accuracy(y_true, y_pred)
    ua = unweighted_accuracy(y_true, y_pred, n)
    recall = per_class_recall(y_true, y_pred, n)
    return {
        "WA": wa,
        "UA": ua,
        "ACC": (ua + wa) / 2,
        "F1": macro_f1(y_true, y_pred),
        "per_class_recall": {lab: (None if np.isnan(r) else float(r)) for lab, r in zip(labels, recall)},
        "confusion": confusion_matrix(y_true, y_pred, n).tolist(),
        "labels": labels,
        "n": int(_as_indices(y_true).size),
    }


def mean_std(results: Sequence[dict], keys: Sequence[str] = ("WA", "UA", "ACC")) -> tuple[dict, dict]:
    """Mean and (population) standard deviation of ``keys`` over per-fold metric dicts."""
    mean = {k: float(np.mean([r[k] for r in results])) for k in keys}
    std = {k: float(np.std([r[k] for r in results])) for k in keys}
    return mean, std
