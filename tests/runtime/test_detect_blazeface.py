"""Bundled BlazeFace detector: finds the astronaut's face with sane keypoints, options work, bad input is typed."""

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

from fer_edge.detect import DETECTORS, BlazeFace, Detections, FaceDetector, create_detector  # noqa: E402
from fer_edge.errors import FerEdgeError, InvalidInputError, ModelFormatError  # noqa: E402

# Face of skimage.data.astronaut() (512x512) by inspection: hairline/brow to chin, ear to ear (x1, y1, x2, y2).
ASTRONAUT_FACE = np.array([178.0, 80.0, 276.0, 182.0])


def box_iou(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def astronaut():
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def short():
    with BlazeFace("short", threads=1) as det:
        yield det


@pytest.fixture(scope="module")
def full():
    with BlazeFace("full", threads=1) as det:
        yield det


@pytest.mark.parametrize("variant", ["short", "full"])
def test_astronaut_one_face(variant, astronaut, short, full):
    det = short if variant == "short" else full
    found = det.detect(astronaut)
    assert isinstance(found, Detections) and len(found) == 1
    assert found.boxes.dtype == found.scores.dtype == found.landmarks.dtype == np.float32
    assert found.landmarks.shape == (1, 6, 2)
    assert found.scores[0] > 0.8
    assert box_iou(found.boxes[0], ASTRONAUT_FACE) > 0.7
    x1, y1, x2, y2 = found.boxes[0]
    right_eye, left_eye, nose, mouth = found.landmarks[0, :4]
    for x, y in (right_eye, left_eye, nose, mouth):
        assert x1 < x < x2 and y1 < y < y2
    # the person's right eye is on the viewer's left; eyes above the nose, nose above the mouth
    assert right_eye[0] < nose[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    # eyes in the upper half of the box, 25-60 % of the box width apart
    assert max(right_eye[1], left_eye[1]) < (y1 + y2) / 2
    assert 0.25 < (left_eye[0] - right_eye[0]) / (x2 - x1) < 0.6
    # by inspection the eye centres are near (204, 103) and (248, 108)
    assert np.linalg.norm(right_eye - [204, 103]) < 8 and np.linalg.norm(left_eye - [248, 108]) < 8


def test_small_face_in_large_frame_needs_full_range(astronaut, short, full):
    frame = np.full((720, 1280, 3), 110, np.uint8)
    side, x0, y0 = 448, 600, 40  # face ~86 px wide: 1/15 of the frame width
    frame[y0 : y0 + side, x0 : x0 + side] = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    expected = ASTRONAUT_FACE * side / 512 + [x0, y0, x0, y0]
    found = full.detect(frame)
    assert len(found) == 1 and box_iou(found.boxes[0], expected) > 0.5  # the recall criterion
    assert len(short.detect(frame)) == 0  # too small for the 128x128 short-range model


def test_two_faces_are_not_merged(astronaut, short):
    head = astronaut[20:300, 80:380]
    frame = np.concatenate([head, head[:, ::-1]], axis=1)
    found = short.detect(frame)
    assert len(found) == 2
    centres = np.sort((found.boxes[:, 0] + found.boxes[:, 2]) / 2)
    assert centres[0] < 300 < centres[1]
    assert np.all(np.diff(found.scores) <= 0)  # best first


def test_no_face_in_plain_frames(short, full):
    for frame in (np.zeros((480, 640, 3), np.uint8), np.full((300, 200, 3), 200, np.uint8)):
        assert len(short.detect(frame)) == 0 and len(full.detect(frame)) == 0


def test_min_face_and_max_faces(astronaut):
    assert len(BlazeFace(min_face=60, threads=1).detect(astronaut)) == 1
    assert len(BlazeFace(min_face=150, threads=1).detect(astronaut)) == 0
    head = astronaut[20:300, 80:380]
    frame = np.concatenate([head, head], axis=1)
    assert len(BlazeFace(threads=1).detect(frame)) == 2
    assert len(BlazeFace(max_faces=1, threads=1).detect(frame)) == 1


def test_score_threshold(astronaut):
    assert len(BlazeFace(score_threshold=0.99, threads=1).detect(astronaut)) == 0


def test_gray_and_bgra_inputs(astronaut, short):
    ref = short.detect(astronaut)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    np.testing.assert_allclose(short.detect(bgra).boxes, ref.boxes, atol=1e-3)
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    for frame in (gray, gray[:, :, None]):
        found = short.detect(frame)
        assert len(found) == 1 and box_iou(found.boxes[0], ref.boxes[0]) > 0.75
        assert box_iou(found.boxes[0], ASTRONAUT_FACE) > 0.7


def test_non_contiguous_input(astronaut, short):
    view = np.ascontiguousarray(np.pad(astronaut, ((0, 0), (0, 40), (0, 0))))[:, :512]
    assert len(short.detect(view[::1, ::1])) == 1
    flipped = astronaut[:, ::-1]  # negative stride
    found = short.detect(flipped)
    assert len(found) == 1 and box_iou(found.boxes[0], [512 - 276, 80, 512 - 178, 182]) > 0.7


@pytest.mark.parametrize(
    "frame",
    [
        None,
        "image.jpg",
        np.zeros((48, 48, 3), np.float32),
        np.zeros((48, 48, 5), np.uint8),
        np.zeros((0, 48, 3), np.uint8),
        np.zeros((4, 48, 48, 3), np.uint8),
    ],
    ids=["none", "str", "float", "5ch", "empty", "4d"],
)
def test_bad_frames(frame, short):
    with pytest.raises(InvalidInputError):
        short.detect(frame)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"variant": "medium"},
        {"score_threshold": 0.0},
        {"score_threshold": 1.5},
        {"iou_threshold": -0.1},
        {"min_face": -1},
        {"max_faces": 0},
        {"threads": 0},
    ],
)
def test_bad_options(kwargs):
    with pytest.raises(InvalidInputError):
        BlazeFace(**kwargs)


def test_model_file_errors(tmp_path):
    with pytest.raises(ModelFormatError, match="missing"):
        BlazeFace(model_path=str(tmp_path / "nope.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx file")
    with pytest.raises(ModelFormatError):
        BlazeFace(model_path=str(junk))


def test_wrong_model_is_rejected(tmp_path):
    # the full-range file has a 192x192 input: not a short-range model
    from fer_edge.detect.blazeface import VARIANTS

    with pytest.raises(ModelFormatError, match="not a BlazeFace short-range model"):
        BlazeFace("short", model_path=str(VARIANTS["full"].path))


def test_create_detector(short):
    assert create_detector(None) is None
    assert create_detector(short) is short
    det = create_detector("blazeface", threads=1, min_face=10)
    assert isinstance(det, BlazeFace) and det.variant.name == "short" and det.min_face == 10
    assert create_detector("blazeface_full", threads=1).variant.name == "full"
    with pytest.raises(InvalidInputError) as err:
        create_detector("haar")
    for name in DETECTORS:  # every registered name (tests/runtime/test_detect_registry.py covers the rest)
        assert repr(name) in str(err.value)
    with pytest.raises(InvalidInputError):
        create_detector(42)


def test_custom_detector_interface():
    class Fixed(FaceDetector):
        def detect(self, frame):
            return Detections.empty()

    with Fixed() as det:
        assert create_detector(det) is det and len(det(np.zeros((8, 8, 3), np.uint8))) == 0
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 4), np.float32), np.zeros((1,), np.float32), np.zeros((2, 6, 2), np.float32))


def test_blend_averages_overlapping_candidates(astronaut):
    hard = BlazeFace(threads=1, blend=False).detect(astronaut)
    soft = BlazeFace(threads=1, blend=True).detect(astronaut)
    assert len(hard) == len(soft) == 1
    assert soft.scores[0] == hard.scores[0]
    shift = np.abs(soft.boxes - hard.boxes).max()
    assert 0 < shift < 10  # moved (several anchors fire on one face) but only a little
    assert box_iou(soft.boxes[0], ASTRONAUT_FACE) > 0.7


def test_closed_detector_says_so(astronaut):
    det = BlazeFace(threads=1)
    with det:
        assert len(det.detect(astronaut)) == 1
    with pytest.raises(FerEdgeError, match="closed"):
        det.detect(astronaut)


def test_create_detector_rejects_unknown_options_with_a_typed_error():
    # A misspelt option was a raw TypeError from BlazeFace.__init__.
    with pytest.raises(InvalidInputError, match="scor_threshold"):
        create_detector("blazeface", scor_threshold=0.3)
