"""Classification metrics in numpy only: the confusion matrix, per-class precision/recall/F1, macro-F1.

Shared by training evaluation (``fer_edge.trainers.evaluate``) and the quantization report
(``fer_edge.engines.report``) so both count the same way.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Sequence

import numpy as np


class ClassScores(NamedTuple):
    """Per-class counts and scores from a (K, K) confusion matrix (rows = true, columns = predicted).

    Attributes:
        tp: correct predictions per class (float64).
        support: true samples per class.
        predicted: predictions per class.
        recall: tp / support (0 where a class has no sample).
        precision: tp / predicted (0 where a class is never predicted).
        f1: harmonic mean of precision and recall (0 where both are 0).
    """

    tp: np.ndarray
    support: np.ndarray
    predicted: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    f1: np.ndarray


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts; rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def class_scores(cm: np.ndarray) -> ClassScores:
    """Per-class precision, recall and F1 of a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1)
    predicted = cm.sum(0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=(precision + recall) > 0)
    return ClassScores(tp, support, predicted, recall, precision, f1)


def classification_metrics(y_true, y_pred, labels: Sequence[str]) -> Dict[str, Any]:
    """Accuracy, macro-F1, per-class recall/F1, support and the confusion matrix: the one definition.

    Macro-F1 averages the F1 of every class that occurs in ``y_true`` or in ``y_pred`` (scikit-learn's
    ``f1_score(average="macro")``): a class the model predicts but the set never contains counts as F1 0, so a
    model inventing a class is penalised. Samples with ``y_true < 0`` (no majority label) are ignored.
    """
    y_true = np.asarray(y_true, np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} samples but y_pred has {y_pred.size}")
    keep = y_true >= 0
    y_true, y_pred = y_true[keep], y_pred[keep]
    k = len(labels)
    cm = confusion_matrix(y_true, y_pred, k)
    s = class_scores(cm)
    present = (s.support > 0) | (s.predicted > 0)
    n = int(len(y_true))
    return {
        "n": n,
        "accuracy": float(s.tp.sum() / n) if n else 0.0,
        "macro_f1": float(s.f1[present].mean()) if present.any() else 0.0,
        "per_class_recall": {lab: float(r) for lab, r in zip(labels, s.recall)},
        "per_class_f1": {lab: float(v) for lab, v in zip(labels, s.f1)},
        "support": {lab: int(v) for lab, v in zip(labels, s.support)},
        "confusion": cm.tolist(),
        "labels": list(labels),
    }
