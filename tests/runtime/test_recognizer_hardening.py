"""Recognizer under hostile use (issue 18): non-sequence inputs, close() during calls, huge box counts, BGRA frames."""

import threading
import time

import cv2
import numpy as np
import pytest

from fer_edge import Recognizer
from fer_edge.detect.base import Detections, FaceDetector
from fer_edge.errors import FerEdgeError, InvalidInputError
from fer_edge.preprocess import as_bgr_frame
from fer_edge.recognizer import MAX_ROWS_PER_CALL


@pytest.fixture()
def rec(tiny_onnx_model):
    with Recognizer(tiny_onnx_model, detector=None, threads=1) as r:
        yield r


@pytest.mark.parametrize("call, bad", [
    ("predict_crops", (np.zeros((48, 48), np.uint8) for _ in range(2))),
    ("predict_crops", 7),
    ("predict_crops", "face.png"),
    ("predict_crops", {"a": 1}),
    ("predict_crops", np.zeros((0, 48, 48), np.uint8)),
    ("predict_crops", np.zeros((2, 2, 2, 2, 2), np.uint8)),
    ("predict_batch", 7),
    ("predict_batch", None),
    ("predict_batch", iter([np.zeros((48, 48, 3), np.uint8)])),
    ("predict_batch", np.zeros((48, 48), np.uint8)),
    ("predict_batch", []),
    ("predict_batch", [7]),
    ("predict_crops", [None]),
])
def test_non_sequences_and_bad_items_are_invalid_input_errors(rec, call, bad):
    with pytest.raises(InvalidInputError):
        getattr(rec, call)(bad)


def test_stacks_and_tuples_are_accepted(rec):
    stack = np.full((3, 48, 48), 200, np.uint8)
    assert len(rec.predict_crops(stack)) == 3
    assert len(rec.predict_crops(tuple(stack))) == 3
    assert [len(x) for x in rec.predict_batch(np.full((2, 60, 60, 3), 30, np.uint8))] == [1, 1]


class _BlockingDetector(FaceDetector):
    """Blocks inside detect() until released, to hold a call open while another thread closes the Recognizer."""

    def __init__(self):
        self.entered, self.release, self.closed = threading.Event(), threading.Event(), False

    def detect(self, frame):
        self.entered.set()
        assert self.release.wait(10)
        if self.closed:
            raise AttributeError("'NoneType' object has no attribute 'run'")  # what a pulled session gives
        return Detections(boxes=np.array([[0, 0, 40, 40]], np.float32), scores=np.array([0.9], np.float32),
                          landmarks=np.zeros((1, 6, 2), np.float32))

    def close(self):
        self.closed = True


def test_close_waits_for_running_calls_and_later_calls_get_a_typed_error(tiny_onnx_model):
    detector = _BlockingDetector()
    rec = Recognizer(tiny_onnx_model, detector=detector, threads=1)
    result = {}

    def worker():
        try:
            result["faces"] = rec.predict(np.full((64, 64, 3), 200, np.uint8))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            result["error"] = exc

    t = threading.Thread(target=worker)
    t.start()
    assert detector.entered.wait(10)
    closer = threading.Thread(target=rec.close)
    closer.start()
    time.sleep(0.2)
    assert closer.is_alive(), "close() returned while a predict() was still running"
    assert not detector.closed
    detector.release.set()
    t.join(10)
    closer.join(10)
    assert "error" not in result, result.get("error")
    assert len(result["faces"]) == 1 and detector.closed
    with pytest.raises(FerEdgeError, match="closed"):
        rec.predict(np.zeros((64, 64, 3), np.uint8))
    rec.close()  # idempotent


def test_close_during_many_threads_never_raises_anything_but_typed_errors(tiny_onnx_model):
    rec = Recognizer(tiny_onnx_model, threads=1)  # the real BlazeFace detector, as in the reported race
    frame = np.full((240, 320, 3), 90, np.uint8)
    errors, done = [], []

    def worker():
        for _ in range(200):
            try:
                rec.predict(frame)
                done.append(1)
            except FerEdgeError:
                return
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    rec.close()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]


class _CountingBackend:
    """Wraps a backend and records the rows of every infer call."""

    def __init__(self, inner):
        self.inner, self.rows = inner, []
        self.card, self.name, self.precision, self.thread_safe = inner.card, inner.name, inner.precision, True

    def infer(self, batch):
        self.rows.append(batch.shape[0])
        return self.inner.infer(batch)

    def close(self):
        self.inner.close()


def test_any_number_of_boxes_is_classified_in_bounded_chunks(rec):
    counting = _CountingBackend(rec.backend)
    rec.backend = counting
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, (3 * MAX_ROWS_PER_CALL + 17, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + 30], axis=1)
    faces = rec.predict(np.full((600, 600, 3), 128, np.uint8), boxes=boxes)
    assert len(faces) == boxes.shape[0]
    assert max(counting.rows) <= MAX_ROWS_PER_CALL and sum(counting.rows) == boxes.shape[0]


def test_bgra_and_non_contiguous_frames_are_converted_once(rec, monkeypatch):
    bgra = np.full((1080, 1920, 4), 100, np.uint8)
    out = as_bgr_frame(bgra)
    assert out.shape == (1080, 1920, 3) and out.flags.c_contiguous
    flipped = np.full((480, 640, 3), 50, np.uint8)[::-1, ::2]
    assert as_bgr_frame(flipped).flags.c_contiguous
    contiguous = np.zeros((10, 10, 3), np.uint8)
    assert as_bgr_frame(contiguous) is contiguous  # no copy when none is needed
    boxes = np.array([[100 + 80 * i, 100, 160 + 80 * i, 160] for i in range(20)], np.float32)
    # Before the fix OpenCV copied the strided frame inside every per-face warp (one full-frame copy per face).
    # Now the frame is converted once: every warp gets the same contiguous 3-channel array.
    seen = []
    warp = cv2.warpAffine

    def spy(src, *args, **kwargs):
        seen.append((id(src), src.flags.c_contiguous, src.shape[2] if src.ndim == 3 else 1))
        return warp(src, *args, **kwargs)

    monkeypatch.setattr(cv2, "warpAffine", spy)
    for frame in (bgra, np.full((1080, 1920, 3), 50, np.uint8)[:, ::-1]):
        seen.clear()
        rec.predict(frame, boxes=boxes)
        assert len(seen) == len(boxes)
        assert {s[1:] for s in seen} == {(True, 3)} and len({s[0] for s in seen}) == 1, seen[:3]


def test_warmup_follows_the_same_lifetime_rules(tiny_onnx_model):
    rec = Recognizer(tiny_onnx_model, detector=None, threads=1)
    rec.warmup((60, 80, 3))
    rec.close()
    with pytest.raises(FerEdgeError, match="closed"):
        rec.warmup((60, 80, 3))
