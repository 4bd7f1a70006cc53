"""Classification metrics in numpy only: the confusion matrix and per-class precision/recall/F1.

Shared by training evaluation (``fer_edge.trainers.evaluate``) and the quantization report
(``fer_edge.engines.report``) so both count the same way.
"""

from __future__ import annotations

from typing import NamedTuple

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
