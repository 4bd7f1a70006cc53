"""stream(): every file frame processed, stable and distinct track ids on synthetic videos, detection every N
frames, smoothing vs injected noise, bad input; plus the real Recognizer end to end and the FPS hook."""

import threading

import cv2
import numpy as np
import pytest

from fer_edge.bench import measure_fps, moving_faces_frames
from fer_edge.errors import InvalidInputError
from fer_edge.face import Face
from fer_edge.pipeline import FrameResult, stream
from fer_edge.tracking import TrackerConfig

LABELS = ("neutral", "happiness", "surprise")
BACKGROUND = 40


def astronaut_face():
    data = pytest.importorskip("skimage.data")
    return cv2.cvtColor(np.ascontiguousarray(data.astronaut()[10:230, 130:330]), cv2.COLOR_RGB2BGR)


class FakeRecognizer:
    """Finds pasted patches by their difference from the plain background; label probabilities are
    'happiness' with optional injected noise (every ``noise_every``-th call flips to 'surprise')."""

    class card:
        labels = LABELS

    def __init__(self, noise_every=0):
        self.detector = object()
        self.timings = {}
        self.detect_calls = 0
        self.box_calls = 0
        self.frames_seen = []
        self.noise_every = noise_every
        self.calls = 0
        self.closed = False

    def _probs(self):
        self.calls += 1
        if self.noise_every and self.calls % self.noise_every == 0:
            return (0.1, 0.35, 0.55)
        return (0.15, 0.6, 0.25)

    def _face(self, box, score=0.9):
        p = dict(zip(LABELS, self._probs()))
        label = max(p, key=p.get)
        return Face(box=tuple(float(v) for v in box), score=score, label=label, confidence=p[label], probs=p)

    def predict(self, frame, boxes=None):
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
        self.frames_seen.append(frame.shape)
        if boxes is not None:
            self.box_calls += 1
            faces = [self._face(b, 1.0) for b in np.asarray(boxes).reshape(-1, 4)]
        else:
            self.detect_calls += 1
            diff = np.abs(frame.astype(np.int16) - BACKGROUND).max(axis=2) > 12
            n, _, stats, _ = cv2.connectedComponentsWithStats(diff.astype(np.uint8))
            faces = [self._face((x, y, x + w, y + h)) for x, y, w, h, a in stats[1:] if a > 400]
        self.timings = {"detect": 1.0, "preprocess": 0.5, "infer": 0.5, "postprocess": 0.1, "total": 2.1}
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def close(self):
        self.closed = True


def write_video(path, frames, fps=25.0, fourcc="MJPG"):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


@pytest.fixture(scope="module")
def two_face_video(tmp_path_factory):
    frames = moving_faces_frames(astronaut_face(), n=40, size=(320, 240), faces=2, face_size=90, step=3,
                                 background=BACKGROUND)
    return write_video(tmp_path_factory.mktemp("video") / "two.avi", frames), frames


def _ids_per_lane(results, width):
    left, right = set(), set()
    for r in results:
        for f in r.faces:
            (left if (f.box[0] + f.box[2]) / 2 < width / 2 else right).add(f.track_id)
    return left, right


def test_every_file_frame_processed_and_two_moving_faces_keep_distinct_stable_ids(two_face_video):
    path, frames = two_face_video
    rec = FakeRecognizer()
    with stream(path, recognizer=rec) as s:
        results = list(s)
    assert [r.index for r in results] == list(range(len(frames)))
    assert all(isinstance(r, FrameResult) and r.detected and len(r.faces) == 2 for r in results)
    left, right = _ids_per_lane(results, 320)
    assert len(left) == 1 and len(right) == 1 and left != right
    assert s.stop_reason == "end" and not rec.closed  # a caller's recognizer is not closed
    assert results[10].timestamp == pytest.approx(10 / 25)
    assert set(results[0].timings) == {"read", "detect", "preprocess", "infer", "postprocess", "track", "total"}
    assert s.stats()["frames"] == len(frames)


def test_detect_every_n_frames_tracks_in_between(two_face_video):
    path, frames = two_face_video
    rec = FakeRecognizer()
    results = list(stream(path, recognizer=rec, detect_every=5))
    assert len(results) == len(frames)
    assert rec.detect_calls == len(frames) // 5
    assert [r.detected for r in results[:6]] == [True, False, False, False, False, True]
    assert all(len(r.faces) == 2 for r in results)
    left, right = _ids_per_lane(results, 320)
    assert len(left) == 1 and len(right) == 1 and left != right


def test_without_tracking_faces_have_no_ids_and_boxes_are_reused(two_face_video):
    path, frames = two_face_video
    rec = FakeRecognizer()
    results = list(stream(path, recognizer=rec, tracking=False, detect_every=4))
    assert all(f.track_id is None for r in results for f in r.faces)
    assert rec.detect_calls == len(frames) // 4 and rec.box_calls == len(frames) - len(frames) // 4


def test_smoothing_reduces_label_flips_with_injected_noise():
    frames = moving_faces_frames(np.full((60, 50, 3), 220, np.uint8), n=120, size=(200, 120), face_size=50)

    def flips(results):
        labels = [r.faces[0].label for r in results]
        return sum(a != b for a, b in zip(labels, labels[1:]))

    raw = flips(list(stream(frames, recognizer=FakeRecognizer(noise_every=3), tracking=False)))
    ema = flips(list(stream(frames, recognizer=FakeRecognizer(noise_every=3), smoothing="ema")))
    window = flips(list(stream(frames, recognizer=FakeRecognizer(noise_every=3), smoothing="window")))
    assert raw >= 70  # 40 noisy frames → ~80 flips
    assert ema <= raw // 10 and window <= raw // 10


def test_tracker_config_is_passed_through():
    frames = moving_faces_frames(np.full((60, 50, 3), 220, np.uint8), n=10, size=(200, 120), face_size=50)
    s = stream(frames, recognizer=FakeRecognizer(), tracking=TrackerConfig(smoothing="none", max_age=2))
    assert s.tracker.config.max_age == 2
    assert len(list(s)) == 10


def test_gray_bgra_and_changing_frame_sizes_are_handled():
    patch = np.full((30, 30), 220, np.uint8)
    frames = []
    for i in range(9):
        h, w = (120, 160) if i < 5 else (90, 200)
        gray = np.full((h, w), BACKGROUND, np.uint8)
        gray[20:50, 10 + 5 * i : 40 + 5 * i] = patch
        frames.append(gray if i % 3 == 0 else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA if i % 3 == 1 else
                                                           cv2.COLOR_GRAY2BGR))
    rec = FakeRecognizer()
    results = list(stream(frames, recognizer=rec))
    assert len(results) == 9 and all(len(r.faces) == 1 for r in results)
    assert {shape for shape in rec.frames_seen} == {(120, 160, 3), (90, 200, 3)}
    ids = [r.faces[0].track_id for r in results]
    assert len(set(ids[:5])) == 1 and len(set(ids[5:])) == 1  # tracks restart when the size changes


def test_stalled_stream_stops_cleanly_with_a_message():
    release = threading.Event()

    def camera():
        for i in range(4):
            img = np.full((60, 80, 3), BACKGROUND, np.uint8)
            img[10:40, 10:40] = 220
            yield img
        release.wait(10)

    s = stream(camera(), recognizer=FakeRecognizer(), timeout=0.3)
    try:
        results = list(s)
    finally:
        release.set()
    assert len(results) == 4
    assert s.stop_reason == "stalled" and "stalled" in s.message


def test_bad_input_raises_typed_errors(tmp_path):
    with pytest.raises(InvalidInputError):
        stream(tmp_path / "nope.mp4", recognizer=FakeRecognizer())
    with pytest.raises(InvalidInputError, match="detect_every"):
        stream([np.zeros((8, 8, 3), np.uint8)], recognizer=FakeRecognizer(), detect_every=0)
    with pytest.raises(InvalidInputError, match="tracking"):
        stream([np.zeros((8, 8, 3), np.uint8)], recognizer=FakeRecognizer(), tracking="yes")
    s = stream([np.zeros((8, 8, 3), np.uint8), "junk"], recognizer=FakeRecognizer())
    assert next(s).index == 0
    with pytest.raises(InvalidInputError, match="frame 1"):
        next(s)


def test_breaking_out_early_releases_the_source(two_face_video):
    path, _ = two_face_video
    s = stream(path, recognizer=FakeRecognizer())
    for r in s:
        if r.index == 3:
            break
    s.close()
    assert s.stop_reason == "closed"


def test_result_as_dict_is_json_ready(two_face_video):
    import json

    path, _ = two_face_video
    r = next(iter(stream(path, recognizer=FakeRecognizer())))
    d = json.loads(json.dumps(r.as_dict()))
    assert d["frame"] == 0 and len(d["faces"]) == 2 and d["faces"][0]["track_id"] in (1, 2)


# ------------------------------------------------------------------ real Recognizer (BlazeFace + ONNX model)
@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory):
    frames = moving_faces_frames(astronaut_face(), n=16, size=(640, 480), faces=2, face_size=200, step=6)
    return write_video(tmp_path_factory.mktemp("real") / "astronauts.avi", frames), frames


def test_real_recognizer_stream_on_synthetic_video(astronaut_video, tiny_onnx_model):
    from fer_edge.recognizer import Recognizer

    path, frames = astronaut_video
    with Recognizer(tiny_onnx_model, threads=1) as rec:
        results = list(rec.stream(path, detect_every=2))
    assert [r.index for r in results] == list(range(len(frames)))
    assert sum(len(r.faces) == 2 for r in results) >= len(frames) - 1
    left, right = _ids_per_lane(results, 640)
    assert len(left) == 1 and len(right) == 1 and left != right
    assert all(f.label in rec.card.labels for r in results for f in r.faces)


def test_fer_edge_stream_builds_and_closes_its_own_recognizer(astronaut_video, tiny_onnx_model):
    import fer_edge

    path, frames = astronaut_video
    s = fer_edge.stream(path, tiny_onnx_model, threads=1, every=4)
    results = list(s)
    assert [r.index for r in results] == [0, 4, 8, 12]
    assert all(r.faces for r in results)


def test_measure_fps_hook(tiny_onnx_model):
    every1 = measure_fps(tiny_onnx_model, frames=10, warmup=2, detect_every=1)
    every5 = measure_fps(tiny_onnx_model, frames=10, warmup=2, detect_every=5)
    assert every1["fps"] > 0 and every1["frames"] == 10 and every1["detections"] == 10
    assert every5["detections"] == 2 and every5["faces_per_frame"] >= 0.9
    assert every1["size"] == [640, 480] and every1["threads"] == 1


def test_frames_without_a_recognizer_call_report_zero_stage_times():
    # No face at the detection: the frames in between have nothing to follow and call nothing, so they must
    # not repeat the detection call's preprocess/infer times.
    frames = [np.full((120, 160, 3), BACKGROUND, np.uint8) for _ in range(4)]
    rec = FakeRecognizer()
    results = list(stream(frames, recognizer=rec, detect_every=3, tracking=False))
    assert [r.detected for r in results] == [True, False, False, True]
    assert rec.detect_calls == 2 and rec.box_calls == 0
    assert results[0].timings["infer"] == 0.5
    for r in results[1:3]:
        assert not r.faces
        assert all(r.timings[k] == 0.0 for k in ("detect", "preprocess", "infer", "postprocess"))


@pytest.mark.parametrize("kw", [{"faces": 0}, {"frames": 0}, {"warmup": -1}])
def test_measure_fps_rejects_empty_runs_with_a_typed_error(kw):
    # faces=0 was a ZeroDivisionError; frames=0 returned an all-zero report as if measured.
    with pytest.raises(InvalidInputError, match="measure_fps"):
        measure_fps(recognizer=FakeRecognizer(), face_image=np.full((40, 40, 3), 200, np.uint8), **kw)
