"""Image message decoding: every supported encoding, padded rows, 16-bit, the buffer types rclpy hands over,
CompressedImage, and typed errors for what cannot be decoded."""

import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fer_edge.errors import InvalidInputError
from fer_edge.ros.images import bgr_from_msg, image_msg


def _frame():
    rng = np.random.default_rng(1)
    return cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (7, 7), 3)


def _msg(**kw):
    return SimpleNamespace(**kw)


@pytest.mark.parametrize("encoding, tol", [("bgr8", 0), ("rgb8", 0), ("bgra8", 0), ("nv12", 6), ("yuv422", 6),
                                           ("yuv422_yuy2", 6)])
def test_encodings_round_trip(encoding, tol):
    bgr = _frame()
    out = bgr_from_msg(image_msg(_msg, None, bgr, encoding))
    assert out.shape == bgr.shape and out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
    assert np.abs(out.astype(int) - bgr).mean() <= tol


def test_mono_padded_rows_16_bit_and_rclpy_buffers():
    bgr = _frame()
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    padded = np.zeros((48, 80), np.uint8)
    padded[:, :64] = gray
    for data in (padded.reshape(-1), padded.tobytes(), array.array("B", padded.tobytes()),
                 list(padded.reshape(-1))):
        out = bgr_from_msg(_msg(encoding="mono8", width=64, height=48, step=80, is_bigendian=0, data=data))
        np.testing.assert_array_equal(out[..., 0], gray)
        np.testing.assert_array_equal(out[..., 2], gray)
    wide = gray.astype(np.uint16) << 8
    for big in (0, 1):
        raw = wide.astype(">u2" if big else "<u2").tobytes()
        out = bgr_from_msg(_msg(encoding="mono16", width=64, height=48, step=128, is_bigendian=big, data=raw))
        np.testing.assert_array_equal(out[..., 1], gray)


def test_compressed_images():
    bgr = _frame()
    png = cv2.imencode(".png", bgr)[1].reshape(-1)
    np.testing.assert_array_equal(bgr_from_msg(_msg(format="png", data=png)), bgr)
    gray_png = cv2.imencode(".png", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[1].tobytes()
    assert bgr_from_msg(_msg(format="png", data=gray_png)).shape == (48, 64, 3)
    jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    assert np.abs(bgr_from_msg(_msg(format="rgb8; jpeg compressed bgr8", data=jpg)).astype(int) - bgr).mean() < 3


def test_what_cannot_be_decoded_is_a_typed_error():
    with pytest.raises(InvalidInputError, match="unsupported image encoding '32FC1'.*bgr8"):
        bgr_from_msg(_msg(encoding="32FC1", width=2, height=2, step=8, is_bigendian=0, data=bytes(16)))
    with pytest.raises(InvalidInputError, match="truncated"):
        bgr_from_msg(_msg(encoding="bgr8", width=4, height=4, step=12, is_bigendian=0, data=bytes(20)))
    with pytest.raises(InvalidInputError, match="step 2 is smaller"):
        bgr_from_msg(_msg(encoding="bgr8", width=4, height=1, step=2, is_bigendian=0, data=bytes(12)))
    with pytest.raises(InvalidInputError, match="even width"):
        bgr_from_msg(_msg(encoding="nv12", width=3, height=2, step=3, is_bigendian=0, data=bytes(9)))
    with pytest.raises(InvalidInputError, match="could not decode a CompressedImage"):
        bgr_from_msg(_msg(format="jpeg", data=bytes(range(50))))
    with pytest.raises(InvalidInputError, match="depth image"):
        bgr_from_msg(_msg(format="16UC1; compressedDepth", data=bytes(10)))
    with pytest.raises(InvalidInputError, match="not an image message"):
        bgr_from_msg(_msg(text="hello"))
