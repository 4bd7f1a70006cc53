"""Letterbox into the detector input and back: geometry round trip and where the pixels land."""

import numpy as np
import pytest

from fer_edge.detect.letterbox import letterbox


@pytest.mark.parametrize("shape", [(480, 640), (720, 1280), (640, 480), (128, 128), (300, 301), (3, 700)])
def test_round_trip(shape):
    frame = np.zeros(shape + (3,), np.uint8)
    canvas, box = letterbox(frame, 128)
    assert canvas.shape == (128, 128, 3) and canvas.dtype == np.uint8
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(50, 2)) * np.array([shape[1], shape[0]])
    back = box.to_frame(box.to_input(pts))
    np.testing.assert_allclose(back, pts, rtol=1e-5, atol=1e-3)
    # the whole frame maps inside the canvas and touches both sides of the longer axis
    corners = box.to_input(np.array([[0.0, 0.0], [shape[1], shape[0]]]))
    assert np.all(corners >= -1e-4) and np.all(corners <= 128 + 1e-4)
    longer = 0 if shape[1] >= shape[0] else 1
    assert corners[0, longer] == pytest.approx(0, abs=1e-4) and corners[1, longer] == pytest.approx(128, abs=1e-4)


def test_content_lands_where_mapped():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:200, 300:400] = (10, 200, 250)  # a BGR block
    canvas, box = letterbox(frame, 128)
    assert box.pad_x == 0 and box.pad_y == pytest.approx((128 - 96) / 2)
    (x1, y1), (x2, y2) = box.to_input(np.array([[300.0, 100.0], [400.0, 200.0]]))
    cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
    assert tuple(canvas[cy, cx]) == (10, 200, 250)  # colour order is kept (the detector swaps to RGB later)
    assert canvas[: int(box.pad_y)].max() == 0 and canvas[128 - int(box.pad_y) :].max() == 0  # black padding


def test_gray_is_replicated():
    frame = np.full((50, 80, 1), 77, np.uint8)
    canvas, box = letterbox(frame, 128)
    inside = canvas[int(box.pad_y) + 2, 10]
    assert tuple(inside) == (77, 77, 77)
