import cv2
import numpy as np
import pytest

from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.errors import InvalidInputError
from fer_edge.preprocess import preprocess, preprocess_crops, preprocess_reference, square_boxes

RAW = ModelCard(labels=FERPLUS_LABELS, mean=(0.0,), std=(1 / 255.0,))  # alpha = 1, beta = 0: raw grey levels
RAW_RGB = ModelCard(labels=FERPLUS_LABELS, color="rgb", mean=(0.0,) * 3, std=(1 / 255.0,) * 3, input_size=(40, 56))


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 2)


BOXES = np.array([[100, 50, 196, 146], [10.3, 10.7, 34.1, 34.9], [-20, -30, 100, 90], [250, 180, 330, 260]],
                 np.float32)


@pytest.mark.parametrize("card", [RAW, RAW_RGB], ids=["gray", "rgb"])
def test_runtime_path_matches_the_float_reference(frame, card):
    fast = preprocess(frame, BOXES, card)
    ref = preprocess_reference(frame, BOXES, card)
    assert fast.shape == ref.shape == (4,) + card.input_shape
    # The OpenCV path rounds samples to uint8: at most half a grey level from the float spec.
    assert np.abs(fast - ref).max() <= 0.5 + 1e-3


def test_reference_matches_opencv_crop_and_resize_inside_the_crop(frame):
    box = np.array([[100, 50, 196, 146]], np.float32)
    ref = preprocess_reference(frame, box, RAW)[0, 0]
    crop = cv2.cvtColor(frame[50:146, 100:196], cv2.COLOR_BGR2GRAY).astype(np.float32)
    expected = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_LINEAR)
    assert np.abs(ref - expected).max() < 0.6  # cvtColor rounds to uint8 before resizing


def test_square_expansion_and_margin():
    sq = square_boxes(np.array([[10, 20, 30, 60]]), 1.5)
    np.testing.assert_allclose(sq, [[-10, 10, 50, 70]])


def test_normalisation_and_layout():
    card = ModelCard(labels=FERPLUS_LABELS, mean=(0.5,), std=(0.5,))
    white = np.full((60, 60), 255, np.uint8)
    out = preprocess(white, None, card)
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out, 1.0, atol=1e-6)
    np.testing.assert_allclose(preprocess(np.zeros((60, 60), np.uint8), None, card), -1.0, atol=1e-6)


def test_gray_bgra_and_rgb_channel_order():
    bgr = np.zeros((32, 32, 3), np.uint8)
    bgr[..., 2] = 200  # red
    rgb = preprocess(bgr, None, RAW_RGB)
    assert rgb[0, 0].mean() == pytest.approx(200) and rgb[0, 2].mean() == pytest.approx(0)
    bgra = np.dstack([bgr, np.full((32, 32), 7, np.uint8)])
    np.testing.assert_array_equal(preprocess(bgra, None, RAW_RGB), rgb)
    gray = preprocess(bgr, None, RAW)
    assert gray[0, 0].mean() == pytest.approx(0.299 * 200, abs=0.6)
    assert preprocess(np.full((32, 32), 9, np.uint8), None, RAW_RGB).shape == (1, 3, 40, 56)


def test_empty_boxes_give_an_empty_batch(frame):
    assert preprocess(frame, np.zeros((0, 4)), RAW).shape == (0, 1, 48, 48)


def test_crops_batch():
    crops = [np.zeros((50, 40), np.uint8), np.full((20, 30, 3), 255, np.uint8)]
    assert preprocess_crops(crops, RAW).shape == (2, 1, 48, 48)


@pytest.mark.parametrize("bad, message", [
    (None, "is None"),
    ([[1, 2], [3, 4]], "numpy array"),
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    (np.zeros((10, 10, 5), np.uint8), "HxWx3"),
    (np.zeros((0, 10, 3), np.uint8), "empty"),
])
def test_bad_frames(bad, message):
    with pytest.raises(InvalidInputError, match=message):
        preprocess(bad, None, RAW)


@pytest.mark.parametrize("boxes, message", [
    ([[1, 2, 3]], r"\(N, 4\)"),
    ([[5, 5, 1, 9]], "x2 > x1"),
    ([[0, 0, np.nan, 4]], "NaN"),
    ("abc", "numbers"),
])
def test_bad_boxes(frame, boxes, message):
    with pytest.raises(InvalidInputError, match=message):
        preprocess(frame, boxes, RAW)
