"""The kernel's own per-pixel code (host build) against preprocess_reference on random frames.

Tolerance: 1e-4 grey levels before normalisation for float32 output; float16 output is the float32 result
rounded to nearest even (exactly) and within one fp16 ulp (+ the same 1e-4) of the reference.
"""

import zlib

import numpy as np
import pytest

from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.preprocess import preprocess_reference
from fer_edge.preprocess.cuda import preprocess_with_host_kernel
from fer_edge.preprocess.frame_layout import Nv12Frame

TOL = 1e-4  # grey levels, before normalisation


def card_for(color, size=(48, 40)):
    channels = 1 if color == "gray" else 3
    return ModelCard(labels=FERPLUS_LABELS, input_size=size, color=color, mean=(0.5, 0.4, 0.3)[:channels],
                     std=(0.25, 0.2, 0.3)[:channels], crop_margin=1.2)


def random_boxes(rng, h, w):
    """Inside, partly outside, wholly outside, 1-px, frame-sized, sub-pixel and huge boxes."""
    fixed = [[0, 0, w, h], [-w * 0.3, -h * 0.2, w * 0.4, h * 0.3], [w * 0.8, h * 0.7, w * 1.9, h * 1.6],
             [-3 * w, -2 * h, -2 * w, -h], [w + 10, h + 5, w + 40, h + 60], [5, 7, 6, 8], [w - 1, h - 1, w, h],
             [3.25, 4.5, 3.5, 4.75], [-10 * w, -10 * h, 10 * w, 10 * h]]
    x1 = rng.uniform(-0.2 * w, w, 6)
    y1 = rng.uniform(-0.2 * h, h, 6)
    rand = np.stack([x1, y1, x1 + rng.uniform(1, w, 6), y1 + rng.uniform(1, h, 6)], axis=1)
    return np.concatenate([np.asarray(fixed, np.float64), rand]).astype(np.float32)


def pitched(rng, shape, pad=13):
    """A uint8 frame whose rows are padded (a view into a wider buffer): pitch > width * channels."""
    h, w = shape[:2]
    extra = shape[2:] if len(shape) == 3 else ()
    big = rng.integers(0, 256, (h, w + pad) + extra, dtype=np.uint8)
    view = big[:, 3 : 3 + w]
    assert view.strides[0] > w * (extra[0] if extra else 1)
    return view


def assert_matches(kernel, frame, ref_frame, boxes, card, margin=None):
    ref = preprocess_reference(ref_frame, boxes, card, margin=margin)
    out = preprocess_with_host_kernel(kernel, frame, boxes, card, margin=margin)
    alpha, _ = card.alpha_beta()
    per_channel = np.asarray(alpha, np.float32).reshape(1, -1, 1, 1)
    err = np.abs(out - ref) / per_channel  # back to grey levels
    assert out.shape == ref.shape and out.dtype == np.float32
    assert err.max() <= TOL, f"max |Δ| {err.max()} grey levels"
    half = preprocess_with_host_kernel(kernel, frame, boxes, card, margin=margin, out_dtype=np.float16)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half.view(np.uint16), out.astype(np.float16).view(np.uint16))
    ref16 = ref.astype(np.float16)
    ulp = np.spacing(np.abs(ref16)).astype(np.float32)
    assert np.all(np.abs(half.astype(np.float32) - ref) <= ulp + TOL * per_channel)
    return err.max()


@pytest.mark.parametrize("color", ["gray", "rgb", "bgr"])
@pytest.mark.parametrize("channels", [0, 1, 3, 4])
@pytest.mark.parametrize("size", [(97, 61), (64, 129), (1, 1), (3, 2)])
def test_packed_and_pitched_frames(host_kernel, color, channels, size):
    rng = np.random.default_rng(zlib.crc32(repr((color, channels, size)).encode()))
    shape = size if channels == 0 else size + (channels,)
    card = card_for(color)
    for frame in (rng.integers(0, 256, shape, dtype=np.uint8), pitched(rng, shape)):
        assert_matches(host_kernel, frame, frame, random_boxes(rng, *size), card)


@pytest.mark.parametrize("color", ["gray", "rgb"])
@pytest.mark.parametrize("size", [(100, 78), (2, 2), (36, 64)])
def test_nv12_matches_opencv_then_reference(host_kernel, color, size):
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    h, w = size
    buffer = rng.integers(0, 256, (h * 3 // 2, w + 6), dtype=np.uint8)[:, :w]  # pitched planes
    frame = Nv12Frame.from_array(buffer)
    assert frame.y.strides[0] == w + 6
    bgr = frame.to_bgr()
    assert_matches(host_kernel, frame, bgr, random_boxes(rng, h, w), card_for(color))


def test_whole_frame_and_margin_override(host_kernel):
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (57, 83, 3), dtype=np.uint8)
    card = card_for("rgb", (112, 96))
    assert_matches(host_kernel, frame, frame, None, card)
    assert_matches(host_kernel, frame, frame, random_boxes(rng, 57, 83), card, margin=1.0)


def test_more_boxes_than_one_launch(host_kernel):
    """Over FER_MAX_BOXES_PER_LAUNCH boxes the launcher splits the batch; every row still matches."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    x1, y1 = rng.uniform(-20, 150, 150), rng.uniform(-20, 110, 150)
    boxes = np.stack([x1, y1, x1 + rng.uniform(2, 60, 150), y1 + rng.uniform(2, 60, 150)], 1).astype(np.float32)
    assert_matches(host_kernel, frame, frame, boxes, card_for("gray", (24, 24)))


def test_no_boxes(host_kernel):
    out = preprocess_with_host_kernel(host_kernel, np.zeros((8, 8, 3), np.uint8), np.zeros((0, 4)), card_for("rgb"))
    assert out.shape == (0, 3, 48, 40)


def test_exact_values_on_a_ramp(host_kernel):
    """A frame-sized box on a horizontal ramp reproduces the ramp: checks the half-pixel convention directly."""
    frame = np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))
    card = ModelCard(labels=FERPLUS_LABELS, input_size=(48, 48), color="gray", mean=(0.0,), std=(1.0,))
    out = preprocess_with_host_kernel(host_kernel, frame, None, card)[0, 0] * 255
    np.testing.assert_allclose(out, frame.astype(np.float32), atol=1e-3)
