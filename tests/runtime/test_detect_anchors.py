"""BlazeFace SSD anchors: counts, order and centres of both layouts."""

import numpy as np
import pytest

from fer_edge.detect.anchors import FULL_RANGE_LAYERS, SHORT_RANGE_LAYERS, ssd_anchors


def test_short_range_layout():
    a = ssd_anchors(128, SHORT_RANGE_LAYERS)
    assert a.shape == (896, 2) and a.dtype == np.float32
    # stride 8: 16x16 cells, 2 anchors each, row-major (y outer, x inner), anchors of a cell adjacent
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[2 * 16], [0.5 / 16, 1.5 / 16])
    np.testing.assert_allclose(a[511], [15.5 / 16, 15.5 / 16])
    # stride 16: 8x8 cells, 6 anchors each
    second = a[512:]
    assert second.shape == (384, 2)
    np.testing.assert_allclose(second[:6], np.tile([[0.5 / 8, 0.5 / 8]], (6, 1)))
    np.testing.assert_allclose(second[6], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(second[-1], [7.5 / 8, 7.5 / 8])


def test_full_range_layout():
    a = ssd_anchors(192, FULL_RANGE_LAYERS)
    assert a.shape == (2304, 2)
    np.testing.assert_allclose(a[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[1], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[48], [0.5 / 48, 1.5 / 48])
    np.testing.assert_allclose(a[-1], [47.5 / 48, 47.5 / 48])


@pytest.mark.parametrize("size,layers", [(128, SHORT_RANGE_LAYERS), (192, FULL_RANGE_LAYERS)])
def test_every_cell_centre_once_per_anchor(size, layers):
    a = ssd_anchors(size, layers)
    assert np.all((a > 0) & (a < 1))
    start = 0
    for stride, per_cell in layers:
        side = size // stride
        block = a[start : start + side * side * per_cell]
        pixels = np.round(block * size - stride / 2).astype(int)  # top-left corner of each cell in pixels
        assert np.all(pixels % stride == 0)
        _, counts = np.unique(pixels, axis=0, return_counts=True)
        assert counts.size == side * side and np.all(counts == per_cell)
        start += block.shape[0]
    assert start == a.shape[0]
