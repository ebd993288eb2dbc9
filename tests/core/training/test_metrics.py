"""SER metrics against scikit-learn on random labels, including a class never predicted."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, recall_score

from core.training import metrics


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 5
    y_true = rng.integers(0, n_classes, 60)
    y_pred = rng.integers(0, n_classes - 1, 60)  # class 4 is never predicted
    assert 4 in y_true and 4 not in y_pred
    wa = accuracy_score(y_true, y_pred)
    ua = balanced_accuracy_score(y_true, y_pred)
    assert metrics.weighted_accuracy(y_true, y_pred) == pytest.approx(wa, abs=1e-12)
    assert metrics.unweighted_accuracy(torch.as_tensor(y_true), torch.as_tensor(y_pred)) == pytest.approx(ua, abs=1e-12)
    np.testing.assert_allclose(metrics.per_class_recall(y_true, y_pred, n_classes),
                               recall_score(y_true, y_pred, average=None, labels=range(n_classes)), atol=1e-12)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, n_classes),
                                  confusion_matrix(y_true, y_pred, labels=range(n_classes)))
    summary = metrics.summary(y_true, y_pred, list("abcde"))
    assert summary["ACC"] == pytest.approx((ua + wa) / 2, abs=1e-12)
    assert summary["per_class_recall"]["e"] == 0.0 and summary["n"] == 60


def test_a_class_absent_from_the_truth_has_no_recall_and_is_left_out_of_ua():
    y_true = [0, 0, 1, 1, 1]
    y_pred = [0, 2, 1, 1, 0]  # class 2 predicted, never true
    recall = metrics.per_class_recall(y_true, y_pred, 3)
    assert np.isnan(recall[2])
    with pytest.warns(UserWarning):  # scikit-learn warns, then averages over the true classes
        expected = balanced_accuracy_score(y_true, y_pred)
    assert metrics.unweighted_accuracy(y_true, y_pred, 3) == pytest.approx(expected)
    assert metrics.summary(y_true, y_pred, ["a", "b", "c"])["per_class_recall"]["c"] is None


def test_mean_std_over_folds():
    folds = [{"WA": 0.5, "UA": 0.4, "ACC": 0.45}, {"WA": 0.7, "UA": 0.6, "ACC": 0.65}]
    mean, std = metrics.mean_std(folds)
    assert mean == pytest.approx({"WA": 0.6, "UA": 0.5, "ACC": 0.55})
    assert std["WA"] == pytest.approx(0.1)


def test_f1_is_the_mean_of_per_class_harmonic_means_of_precision_and_recall():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 4, 80)
    y_pred = np.where(rng.random(80) < 0.6, y_true, rng.integers(0, 4, 80))
    cm = confusion_matrix(y_true, y_pred, labels=range(4))
    tp = np.diag(cm).astype(float)
    precision, recall = tp / cm.sum(axis=0), tp / cm.sum(axis=1)
    expected = np.mean(2 * precision * recall / (precision + recall))
    assert metrics.summary(y_true, y_pred, list("abcd"))["F1"] == pytest.approx(expected, abs=1e-12)
    assert metrics.macro_f1(y_true, y_true) == 1.0
