"""IoU tracker: stable and distinct ids, re-identification within max_age, smoothing and hysteresis."""

import numpy as np
import pytest

from fer_edge.errors import InvalidInputError
from fer_edge.face import Face
from fer_edge.tracking import Tracker, TrackerConfig, iou_matrix

LABELS = ("neutral", "happiness", "surprise")


def _face(box, probs=(0.2, 0.7, 0.1)):
    p = dict(zip(LABELS, probs))
    label = max(p, key=p.get)
    return Face(box=tuple(float(v) for v in box), score=0.9, label=label, confidence=p[label], probs=p)


def _box(x, y, s=80):
    return (x, y, x + s, y + s)


def test_iou_matrix_basic():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    m = iou_matrix(a, b)
    assert m.shape == (2, 2)
    assert m[0, 0] == pytest.approx(1.0) and m[0, 1] == pytest.approx(50 / 150) and m[1, 0] == 0


def test_moving_face_keeps_its_id():
    tracker = Tracker()
    ids = set()
    for i in range(50):
        (face,) = tracker.update([_face(_box(10 + 6 * i, 50))], i)
        ids.add(face.track_id)
    assert ids == {1}


def test_two_faces_keep_distinct_ids_regardless_of_list_order():
    tracker = Tracker()
    first = tracker.update([_face(_box(10, 50)), _face(_box(300, 60))], 0)
    id_left = next(f.track_id for f in first if f.box[0] < 200)
    id_right = next(f.track_id for f in first if f.box[0] > 200)
    assert id_left != id_right
    for i in range(1, 40):
        faces = [_face(_box(300 - 3 * i, 60)), _face(_box(10 + 3 * i, 50))]
        if i % 2:
            faces.reverse()
        out = tracker.update(faces, i)
        by_y = {f.box[1]: f.track_id for f in out}
        assert by_y[50] == id_left and by_y[60] == id_right


def test_fast_motion_matched_by_centre_distance():
    tracker = Tracker(TrackerConfig(velocity=False))
    a = tracker.update([_face(_box(0, 0, 100))], 0)[0]
    b = tracker.update([_face(_box(45, 10, 100))], 1)[0]  # IoU ~ 0.32 → IoU match
    c = tracker.update([_face(_box(95, 20, 100))], 2)[0]  # IoU ~ 0.26 < 0.3 → centre-distance match
    assert a.track_id == b.track_id == c.track_id
    d = tracker.update([_face(_box(400, 300, 100))], 3)[0]  # far away: a new person
    assert d.track_id != a.track_id


def test_velocity_prediction_follows_steady_motion():
    tracker = Tracker()
    for i in range(5):
        tracker.update([_face(_box(10 * i, 0))], i)
    boxes, ids = tracker.predicted_boxes(6)
    assert ids == [1]
    assert boxes[0][0] == pytest.approx(60, abs=1e-3)


def test_lost_face_reidentified_within_max_age_then_retired():
    tracker = Tracker(TrackerConfig(max_age=3))
    tid = tracker.update([_face(_box(100, 100))], 0)[0].track_id
    for i in range(1, 3):
        assert tracker.update([], i) == []
    assert tracker.update([_face(_box(102, 100))], 3)[0].track_id == tid
    for i in range(4, 9):
        tracker.update([], i)
    assert tracker.update([_face(_box(102, 100))], 9)[0].track_id != tid
    assert tracker.predicted_boxes()[0].shape == (1, 4)


def _noisy_sequence(n=200, flip_every=4, seed=0):
    """True label 'happiness'; every ``flip_every``-th frame a noisy spike makes 'surprise' the argmax."""
    rng = np.random.default_rng(seed)
    seq = []
    for i in range(n):
        p = np.array([0.15, 0.6, 0.25]) + rng.normal(0, 0.03, 3)
        if i % flip_every == 0:
            p = np.array([0.1, 0.35, 0.55])
        p = np.clip(p, 0.01, None)
        seq.append(p / p.sum())
    return seq


def _flips(labels):
    return sum(a != b for a, b in zip(labels, labels[1:]))


@pytest.mark.parametrize("smoothing", ["ema", "window", "none"])
def test_smoothing_and_hysteresis_reduce_label_flips(smoothing):
    seq = _noisy_sequence()
    raw = [LABELS[int(np.argmax(p))] for p in seq]
    tracker = Tracker(TrackerConfig(smoothing=smoothing), labels=LABELS)
    smoothed = [tracker.update([_face(_box(50, 50), p)], i)[0].label for i, p in enumerate(seq)]
    assert _flips(raw) >= 90
    assert _flips(smoothed) <= _flips(raw) // 10
    assert smoothed[-1] == "happiness"


def test_smoothed_label_follows_a_real_change_quickly():
    tracker = Tracker(labels=LABELS)
    happy, surprised = (0.1, 0.8, 0.1), (0.1, 0.1, 0.8)
    labels = [tracker.update([_face(_box(0, 0), happy if i < 20 else surprised)], i)[0].label for i in range(30)]
    switch = labels.index("surprise")
    assert 20 < switch <= 24
    assert labels[switch:] == ["surprise"] * (30 - switch)


def test_smoothed_probs_stay_a_distribution_and_confidence_matches_label():
    tracker = Tracker(labels=LABELS)
    for i, p in enumerate(_noisy_sequence(30)):
        face = tracker.update([_face(_box(0, 0), p)], i)[0]
        assert sum(face.probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert face.confidence == pytest.approx(face.probs[face.label])


def test_faces_without_probs_still_get_ids():
    tracker = Tracker()
    face = Face(box=(0, 0, 10, 10), score=1.0, label="x", confidence=1.0)
    assert tracker.update([face])[0].track_id == 1


def test_reset_keeps_ids_unique():
    tracker = Tracker()
    a = tracker.update([_face(_box(0, 0))], 0)[0]
    tracker.reset()
    b = tracker.update([_face(_box(0, 0))], 1)[0]
    assert b.track_id != a.track_id


@pytest.mark.parametrize(
    "kwargs", [{"smoothing": "median"}, {"alpha": 0.0}, {"window": 0}, {"iou_threshold": 1.5}, {"hysteresis": -1}]
)
def test_config_validation(kwargs):
    with pytest.raises(InvalidInputError):
        TrackerConfig(**kwargs)


def test_config_is_frozen():
    with pytest.raises(Exception):
        TrackerConfig().alpha = 0.9
