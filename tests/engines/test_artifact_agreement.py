"""``agreement`` (the FP16/INT8 parity gate) must fail on non-finite outputs and on a changed output shape."""

import numpy as np
import pytest
from fer_edge.engines.artifact import agreement

from fer_edge.errors import ModelFormatError


def test_agreement_counts_identical_outputs():
    ref = np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)
    assert agreement(ref, ref.copy()) == (1.0, 0.0, 0.0)


def test_nan_rows_are_disagreements_even_when_argmax_matches():
    ref = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]], np.float32)
    bad = np.full_like(ref, np.nan)  # argmax of an all-NaN row is 0, which matches every reference row
    agree, max_diff, mean_diff = agreement(ref, bad)
    assert agree == 0.0
    assert max_diff == np.inf and mean_diff == np.inf


def test_inf_row_counts_once():
    ref = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
    other = np.array([[np.inf, 0.1], [0.2, 0.8]], np.float32)
    agree, max_diff, _ = agreement(ref, other)
    assert agree == 0.5 and max_diff == np.inf


def test_shape_mismatch_is_a_model_format_error():
    with pytest.raises(ModelFormatError, match="shape"):
        agreement(np.zeros((4, 8), np.float32), np.zeros((4, 1), np.float32))
