"""One classification_metrics for the quantization report, evaluation and training (hand-computed cases)."""

import numpy as np
import pytest

from fer_edge.metrics import classification_metrics


def test_a_predicted_class_absent_from_the_labels_counts_in_macro_f1():
    # labels [0,0,1], predictions [0,0,2]: class 0 F1 = 1; class 1 (missed) F1 = 0; class 2 (invented) F1 = 0.
    m = classification_metrics([0, 0, 1], [0, 0, 2], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx(1 / 3)
    assert m["per_class_recall"] == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert m["confusion"] == [[2, 0, 0], [0, 0, 1], [0, 0, 0]]


def test_a_class_absent_from_labels_and_predictions_is_left_out():
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b", "c"])
    assert m["accuracy"] == 0.75
    # class 0: P=1, R=0.5, F1=2/3; class 1: P=2/3, R=1, F1=0.8; class 2 never occurs → not averaged
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["support"] == {"a": 2, "b": 2, "c": 0}


def test_report_and_evaluation_use_the_same_definition():
    from fer_edge.engines import report
    from fer_edge.trainers import evaluate

    assert report.classification_metrics is classification_metrics
    assert evaluate.classification_metrics is classification_metrics


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 samples"):
        classification_metrics([0, 1], [0], ["a", "b"])
