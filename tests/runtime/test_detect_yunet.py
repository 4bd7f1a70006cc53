"""YuNet: decoding on hand-made output tensors, the frame mapping, NMS and options, and real images."""

import math

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from fer_edge.detect import YUNET_LANDMARK_NAMES, Detections, YuNet  # noqa: E402
from fer_edge.detect.yunet import STRIDES, decode_yunet, reference_boxes, yunet_input_shape  # noqa: E402
from fer_edge.errors import FerEdgeError, InvalidInputError, ModelFormatError  # noqa: E402


def blank_outputs(ph, pw):
    """All-zero YuNet outputs for a (ph, pw) padded input: no anchor scores anything."""
    out = {}
    for s in STRIDES:
        n = (ph // s) * (pw // s)
        out[f"cls_{s}"] = np.zeros((1, n, 1), np.float32)
        out[f"obj_{s}"] = np.zeros((1, n, 1), np.float32)
        out[f"bbox_{s}"] = np.zeros((1, n, 4), np.float32)
        out[f"kps_{s}"] = np.zeros((1, n, 10), np.float32)
    return out


def put(out, stride, row, col, pw, cls, obj, bbox, kps):
    """Set one anchor point (grid cell row, col at ``stride``) of a padded input ``pw`` pixels wide."""
    i = row * (pw // stride) + col
    out[f"cls_{stride}"][0, i, 0] = cls
    out[f"obj_{stride}"][0, i, 0] = obj
    out[f"bbox_{stride}"][0, i] = bbox
    out[f"kps_{stride}"][0, i] = kps


def test_input_shape_keeps_aspect_and_pads_to_32():
    assert yunet_input_shape(480, 640, 320) == (240, 320, 256, 320)
    assert yunet_input_shape(720, 1280, 320) == (180, 320, 192, 320)
    assert yunet_input_shape(480, 360, 320) == (320, 240, 320, 256)
    assert yunet_input_shape(480, 640, 640) == (480, 640, 480, 640)


def test_decode_one_anchor_by_hand():
    ph, pw = 64, 96
    out = blank_outputs(ph, pw)
    kps = [0.5, 0.0, 1.5, 0.0, 1.0, 0.5, 0.5, 1.0, 1.5, 1.0]
    put(out, 16, row=2, col=3, pw=pw, cls=0.81, obj=1.0, bbox=[0.5, 0.25, math.log(4), math.log(2)], kps=kps)
    boxes, scores, points = decode_yunet(out, (ph, pw), 0.5)
    assert scores.tolist() == pytest.approx([0.9])  # sqrt(0.81 * 1.0)
    # centre = ((3 + 0.5) * 16, (2 + 0.25) * 16) = (56, 36); size = (4 * 16, 2 * 16) = (64, 32)
    np.testing.assert_allclose(boxes, [[24, 20, 88, 52]], atol=1e-4)
    expected = (np.array([3.0, 2.0]) + np.array(kps).reshape(5, 2)) * 16
    np.testing.assert_allclose(points[0], expected, atol=1e-4)


def test_decode_threshold_clipping_and_every_stride():
    ph, pw = 64, 96
    out = blank_outputs(ph, pw)
    put(out, 8, 0, 0, pw, cls=1.3, obj=0.64, bbox=[0, 0, 0, 0], kps=[0] * 10)  # cls clipped to 1 → 0.8
    put(out, 32, 1, 2, pw, cls=0.25, obj=1.0, bbox=[0, 0, 0, 0], kps=[0] * 10)  # 0.5: below 0.6
    put(out, 32, 0, 1, pw, cls=-0.5, obj=1.0, bbox=[0, 0, 0, 0], kps=[0] * 10)  # negative clipped to 0
    boxes, scores, points = decode_yunet(out, (ph, pw), 0.6)
    assert scores.tolist() == pytest.approx([0.8])
    np.testing.assert_allclose(boxes, [[-4, -4, 4, 4]], atol=1e-5)  # cell (0, 0), size exp(0) * 8
    _, scores, _ = decode_yunet(out, (ph, pw), 0.4)
    assert sorted(scores.tolist()) == pytest.approx([0.5, 0.8])
    empty = decode_yunet(blank_outputs(ph, pw), (ph, pw), 0.1)
    assert [a.shape for a in empty] == [(0, 4), (0,), (0, 5, 2)]


def test_decode_rejects_outputs_of_another_input_size():
    with pytest.raises(ModelFormatError, match="expected 8x12"):
        decode_yunet(blank_outputs(32, 32), (64, 96), 0.5)


class FakeSession:
    """Stands in for ONNX Runtime: returns fixed outputs for any input (records the input shape)."""

    def __init__(self, outputs):
        self.outputs, self.shapes = outputs, []

    def run(self, names, feeds):
        self.shapes.append(next(iter(feeds.values())).shape)
        return [self.outputs[n] for n in names]


@pytest.fixture(scope="module")
def yunet():
    det = YuNet(threads=1, verify_below=0, raw_boxes=True)  # YuNet's own boxes: what the tensors say
    yield det
    det.close()


def test_detect_maps_to_frame_pixels_and_suppresses_duplicates(yunet):
    frame = np.zeros((480, 640, 3), np.uint8)  # 320 input: scale 0.5, padded to 256 x 320
    out = blank_outputs(256, 320)
    bbox = [0.0, 0.0, math.log(2), math.log(2)]  # 32 x 32 input pixels
    put(out, 16, 5, 5, 320, cls=0.9, obj=0.9, bbox=bbox, kps=[0] * 10)  # centre (80, 80) → frame (160, 160)
    put(out, 16, 5, 6, 320, cls=0.85, obj=0.85, bbox=[-0.5, 0, math.log(2), math.log(2)], kps=[0] * 10)  # dup
    put(out, 32, 6, 8, 320, cls=0.81, obj=0.81, bbox=[0, 0, 0, 0], kps=[0] * 10)  # 32 px input → 64 px frame
    real, yunet._session = yunet._session, FakeSession(out)
    try:
        found = yunet.detect(frame)
        assert yunet._session.shapes == [(1, 3, 256, 320)]
    finally:
        yunet._session = real
    assert isinstance(found, Detections) and found.landmark_names == YUNET_LANDMARK_NAMES
    assert found.scores.tolist() == pytest.approx([0.9, 0.81])  # the 0.85 duplicate overlaps the 0.9 box
    np.testing.assert_allclose(found.boxes[0], [128, 128, 192, 192], atol=1e-3)
    np.testing.assert_allclose(found.boxes[1], [480, 352, 544, 416], atol=1e-3)
    np.testing.assert_allclose(found.landmarks[0], np.full((5, 2), 160.0), atol=1e-3)


def test_min_face_and_max_faces(yunet):
    out = blank_outputs(256, 320)
    put(out, 16, 5, 5, 320, cls=0.9, obj=0.9, bbox=[0, 0, math.log(2), math.log(2)], kps=[0] * 10)  # 64 px
    put(out, 8, 20, 30, 320, cls=0.95, obj=0.95, bbox=[0, 0, 0, 0], kps=[0] * 10)  # 16 px in the frame
    frame = np.zeros((480, 640, 3), np.uint8)
    for options, expected in (({}, [0.95, 0.9]), ({"min_face": 20}, [0.9]), ({"max_faces": 1}, [0.95])):
        det = YuNet(threads=1, verify_below=0, raw_boxes=True, **options)
        det._session = FakeSession(out)
        assert det.detect(frame).scores.tolist() == pytest.approx(expected), options
    # min_face applies to the boxes the caller gets: the 64 px raw box maps to 70.6 x 54 px
    for raw, expected in ((True, [0.9]), (False, [])):
        det = YuNet(threads=1, verify_below=0, raw_boxes=raw, min_face=60)
        det._session = FakeSession(out)
        assert det.detect(frame).scores.tolist() == pytest.approx(expected), raw


def test_default_boxes_follow_the_classifier_face_box_convention():
    """By default a YuNet box becomes the brow-to-chin box the card's crop margin was calibrated on."""
    raw = np.array([[100, 50, 190.7, 168.5]], np.float32)  # 90.7 wide, 118.5 tall
    ref = reference_boxes(raw)
    w, h = ref[0, 2] - ref[0, 0], ref[0, 3] - ref[0, 1]
    assert w == pytest.approx(100, abs=0.01) and h == pytest.approx(100, abs=0.01)
    assert (ref[0, 0] + ref[0, 2]) / 2 == pytest.approx(145.35, abs=0.01)  # same centre x
    assert (ref[0, 1] + ref[0, 3]) / 2 == pytest.approx(109.25 + 7.8, abs=0.01)  # 0.078 widths lower
    out = blank_outputs(256, 320)
    put(out, 16, 5, 5, 320, cls=0.9, obj=0.9, bbox=[0, 0, math.log(2), math.log(2)], kps=[0] * 10)
    det = YuNet(threads=1, verify_below=0)
    det._session = FakeSession(out)
    np.testing.assert_allclose(det.detect(np.zeros((480, 640, 3), np.uint8)).boxes,
                               reference_boxes(np.array([[128, 128, 192, 192]], np.float32)), atol=1e-3)


def test_several_input_sizes_run_one_pass_each(yunet):
    det = YuNet(threads=1, verify_below=0, input_size=(640, 160))
    found = det.detect(np.zeros((480, 640, 3), np.uint8))
    assert len(found) == 0 and det.input_size == (640, 160)


@pytest.fixture(scope="module")
def astronaut():
    skimage = pytest.importorskip("skimage.data")
    return cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)


#: Hand-labelled face of skimage's astronaut (brow line to chin, cheek to cheek), x1, y1, x2, y2.
ASTRONAUT_FACE = np.array([180, 78, 266, 164], np.float64)


def iou(a, b):
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)


def test_astronaut_found_with_ordered_landmarks(astronaut, yunet):
    found = yunet.detect(astronaut)
    assert len(found) == 1 and found.scores[0] > 0.9
    assert iou(found.boxes[0].astype(np.float64), ASTRONAUT_FACE) > 0.6
    (rex, rey), (lex, ley), (nx, ny), (mrx, mry), (mlx, mly) = found.landmarks[0]
    assert rex < nx < lex and mrx < mlx  # the person's right eye/mouth corner is on the viewer's left
    assert max(rey, ley) < ny < min(mry, mly)


def test_astronaut_close_up_filling_the_frame(astronaut, yunet):
    """A face at ~30 cm: a 160x120 crop around the head blown up 4x to 640x480, face 344 px wide."""
    close = cv2.resize(astronaut[62:182, 143:303], (640, 480), interpolation=cv2.INTER_LINEAR)
    truth = (ASTRONAUT_FACE - [143, 62, 143, 62]) * 4  # (148, 64, 492, 408)
    found = yunet.detect(close)
    assert len(found) == 1 and iou(found.boxes[0].astype(np.float64), truth) > 0.5


def test_gray_and_bgra_frames(astronaut, yunet):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    for frame in (gray, gray[:, :, None], bgra):
        assert len(yunet.detect(frame)) == 1


@pytest.mark.parametrize("options, message", [
    ({"score_threshold": 1.5}, "score_threshold must be in \\[0, 1\\]"),
    ({"iou_threshold": -0.1}, "iou_threshold"),
    ({"min_face": -1}, "min_face must be >= 0"),
    ({"max_faces": 0}, "max_faces"),
    ({"input_size": 16}, "input_size must be an integer >= 32"),
    ({"input_size": []}, "input_size"),
    ({"input_size": "big"}, "input_size"),
    ({"input_size": 320.0}, "input_size"),
    ({"threads": 0}, "threads"),
])
def test_bad_options(options, message):
    with pytest.raises(InvalidInputError, match=message):
        YuNet(**options)


def test_wrong_model_and_closed_detector(tmp_path, tiny_onnx_model):
    with pytest.raises(ModelFormatError, match="missing"):
        YuNet(model_path=str(tmp_path / "nope.onnx"))
    with pytest.raises(ModelFormatError, match="not a YuNet model"):
        YuNet(model_path=str(tiny_onnx_model))
    det = YuNet(threads=1, verify_below=0)
    det.close()
    with pytest.raises(FerEdgeError, match="closed"):
        det.detect(np.zeros((64, 64, 3), np.uint8))


def test_verification_drops_what_blazeface_rejects(yunet):
    """A doubtful box (score below verify_below) stays only if the verifier confirms it."""
    out = blank_outputs(256, 320)
    put(out, 16, 5, 5, 320, cls=0.85, obj=0.85, bbox=[0, 0, math.log(2), math.log(2)], kps=[0] * 10)
    put(out, 16, 10, 15, 320, cls=0.95, obj=0.95, bbox=[0, 0, math.log(2), math.log(2)], kps=[0] * 10)
    det = YuNet(threads=1, verify_below=0.9, raw_boxes=True)
    det._session = FakeSession(out)
    frame = np.zeros((480, 640, 3), np.uint8)  # nothing there: BlazeFace confirms neither box
    assert det.detect(frame).scores.tolist() == pytest.approx([0.95])  # 0.95 is above verify_below: kept unchecked
    det._verifier.confirm = lambda f, boxes: np.ones(len(boxes), bool)
    assert det.detect(frame).scores.tolist() == pytest.approx([0.95, 0.85])
