import cv2
import numpy as np
import pytest

from fer_edge import Face, Recognizer, draw
from fer_edge.detect import YUNET_LANDMARK_NAMES
from fer_edge.errors import InvalidInputError, ModelFormatError
from fer_edge.recognizer import DEFAULT_MODEL


def synthetic_frame():
    """A grey 480x640 frame with a bright square 'face' and a dark one (the tiny model keys on brightness)."""
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[100:220, 60:180] = 250   # bright, 120 px
    frame[300:360, 400:460] = 5    # dark, 60 px
    return frame


BOXES = np.array([[400, 300, 460, 360], [60, 100, 180, 220]], np.float32)


@pytest.fixture()
def rec(tiny_onnx_model):
    with Recognizer(tiny_onnx_model, detector=None, threads=1) as r:
        yield r


def test_caller_boxes_give_right_labels_largest_first(rec):
    faces = rec.predict(synthetic_frame(), boxes=BOXES)
    assert [f.label for f in faces] == ["happiness", "surprise"]
    assert faces[0].box == (60.0, 100.0, 180.0, 220.0)
    assert faces[0].score == 1.0
    assert sum(faces[0].probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert faces[0].confidence == max(faces[0].probs.values())
    assert set(rec.timings) == {"detect", "preprocess", "infer", "postprocess", "total"}
    assert rec.timings["total"] >= rec.timings["infer"] > 0


def test_caller_boxes_get_the_card_margin_with_or_without_a_detector(tiny_onnx_model):
    """The same caller box must give the same crop whether or not a detector is configured."""
    from fer_edge.card import FERPLUS_LABELS, ModelCard

    frame = synthetic_frame()
    seen = []

    class Recording:
        card = ModelCard(labels=FERPLUS_LABELS, crop_margin=2.0)
        name, precision = "recording", "fp32"

        def infer(self, batch):
            seen.append(batch.copy())
            return np.zeros((batch.shape[0], 8), np.float32)

        def close(self):
            pass

    from fer_edge.backends import Backend

    backend = type("RecordingBackend", (Recording, Backend), {})()
    for detector in (None, "blazeface"):
        Recognizer(backend, detector=detector).predict(frame, boxes=BOXES[1:])
    np.testing.assert_array_equal(seen[0], seen[1])
    # Margin 2.0 around the 120 px bright square takes in the grey border: the crop is not uniformly bright.
    assert seen[0].min() < seen[0].max()


def test_without_detector_the_frame_is_the_crop(rec):
    (face,) = rec(np.full((50, 40), 250, np.uint8))
    assert face.label == "happiness" and face.box == (0.0, 0.0, 40.0, 50.0)


def test_predict_crops_keeps_input_order(rec):
    faces = rec.predict_crops([np.zeros((30, 30, 3), np.uint8), np.full((64, 64, 4), 255, np.uint8)])
    assert [f.label for f in faces] == ["surprise", "happiness"]


def test_predict_batch(rec):
    res = rec.predict_batch([np.full((48, 48), 255, np.uint8), np.zeros((48, 48, 3), np.uint8)])
    assert [[f.label for f in r] for r in res] == [["happiness"], ["surprise"]]


def test_with_detector_finds_the_astronaut(tiny_onnx_model):
    skimage = pytest.importorskip("skimage.data")
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, :] = 90
    face = cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)[0:256, 96:352]
    frame[100:356, 200:456] = face
    with Recognizer(tiny_onnx_model, threads=1) as rec:
        faces = rec.predict(frame)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    assert 200 < x1 < x2 < 456 and 100 < y1 < y2 < 356
    # The default detector is YuNet (docs/detector.md): 5 keypoints, eyes above the nose above the mouth corners.
    assert faces[0].score > 0.8 and len(faces[0].landmarks) == len(YUNET_LANDMARK_NAMES) == 5
    (rex, rey), (lex, ley), (_, ny), (_, mry), (_, mly) = faces[0].landmarks
    assert rex < lex and max(rey, ley) < ny < min(mry, mly)
    assert rec.timings["detect"] > 0


def test_face_is_printable_and_serialisable(rec):
    (face,) = rec.predict(synthetic_frame(), boxes=BOXES[1:])
    assert isinstance(face, Face)
    assert "happiness" in str(face)
    d = face.as_dict()
    assert d["label"] == "happiness" and len(d["box"]) == 4 and d["track_id"] is None


def test_draw_returns_an_annotated_copy(rec):
    frame = synthetic_frame()
    faces = rec.predict(frame, boxes=BOXES)
    out = draw(frame, faces, fps=30.0)
    assert out.shape == frame.shape and out is not frame
    assert np.count_nonzero(np.any(out != frame, axis=2)) > 500
    assert np.array_equal(frame, synthetic_frame())  # input untouched
    assert draw(np.zeros((50, 50), np.uint8), []).shape == (50, 50, 3)


@pytest.mark.parametrize("bad, message", [
    (None, "is None"),
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    (np.zeros((0, 0, 3), np.uint8), "empty"),
    (np.array([]), "empty"),
    (np.zeros((10, 10, 5), np.uint8), "HxWx3"),
])
def test_bad_frames_raise_typed_errors(rec, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        rec.predict(bad)


def test_bad_model_paths(tmp_path):
    with pytest.raises(ModelFormatError, match="not found"):
        Recognizer(tmp_path / "nope.onnx")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelFormatError, match="suffix"):
        Recognizer(text)


def test_unknown_detector_name(tiny_onnx_model):
    with pytest.raises(InvalidInputError, match="yunet.*blazeface"):
        Recognizer(tiny_onnx_model, detector="haar")


def test_detector_options_need_a_detector_name(tiny_onnx_model):
    with pytest.raises(InvalidInputError, match="detector_options apply only"):
        Recognizer(tiny_onnx_model, detector=None, detector_options={"min_face": 20})


def test_missing_default_model_says_so(tmp_path, monkeypatch):
    import fer_edge.recognizer as recognizer

    monkeypatch.setattr(recognizer, "DEFAULT_MODEL", tmp_path / "absent.onnx")
    with pytest.raises(ModelFormatError, match="No trained default model"):
        Recognizer()


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no default model bundled in this build")
def test_default_model_finds_the_smiling_astronaut():
    skimage = pytest.importorskip("skimage.data")
    frame = cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)
    with Recognizer(threads=1) as rec:
        (face,) = rec.predict(frame)
    assert rec.card.labels[1] == "happiness"
    assert face.label == "happiness" and face.confidence > 0.8
    x1, y1, x2, y2 = face.box
    assert 150 < x1 < 200 and 60 < y1 < 100 and 250 < x2 < 300 and 150 < y2 < 200


def test_caller_boxes_are_clipped_and_boxes_outside_the_frame_dropped(rec, caplog):
    frame = synthetic_frame()  # 640x480
    boxes = np.array([[700, 10, 800, 110], [60, 100, 180, 220], [-50, -50, -1, -1], [600, 400, 700, 520]], np.float32)
    faces = rec.predict(frame, boxes=boxes)
    assert [f.box for f in faces] == [(60.0, 100.0, 180.0, 220.0), (600.0, 400.0, 640.0, 480.0)]
    assert "dropped 2 of 4 box(es) wholly outside the 640x480 frame" in caplog.text
    assert rec.predict(frame, boxes=[[-20, 0, 0, 30]]) == []


def test_a_model_without_a_card_opens_with_the_card_the_hint_names(tmp_path):
    from fakes.tiny_models import write_tiny_classifier

    from fer_edge.card import FERPLUS_LABELS, ModelCard

    path = write_tiny_classifier(tmp_path / "bare.onnx", card=False)
    with pytest.raises(ModelFormatError, match=r"Recognizer\(path, card=ModelCard\("):
        Recognizer(path, detector=None)
    with pytest.warns(UserWarning, match="no model card"):
        rec = Recognizer(path, detector=None, card=ModelCard(labels=FERPLUS_LABELS), threads=1)
    with rec:
        bright = np.full((48, 48), 250, np.uint8)
        assert rec.predict(bright)[0].label == "happiness"


def test_warmup_runs_every_stage_untimed(tiny_onnx_model, monkeypatch):
    with Recognizer(tiny_onnx_model, detector=None, threads=1) as rec:
        calls = []
        infer = rec.backend.infer
        monkeypatch.setattr(rec.backend, "infer", lambda batch: calls.append(batch.shape) or infer(batch))
        rec.predict(synthetic_frame(), boxes=BOXES)
        rec.warmup((120, 160))
        assert calls[-1] == (1, 1, 48, 48)
        assert rec.timings == dict.fromkeys(rec.timings, 0.0)


def test_cli_predict_warms_up_before_the_time_it_prints(tiny_onnx_model, tmp_path, monkeypatch, capsys):
    import cv2

    from fer_edge.cli import main

    order = []
    monkeypatch.setattr(Recognizer, "warmup", lambda self, shape: order.append(("warmup", tuple(shape))))
    real_predict = Recognizer.predict
    monkeypatch.setattr(Recognizer, "predict", lambda self, frame: order.append("predict") or real_predict(self, frame))
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((40, 50), 200, np.uint8))
    assert main(["predict", str(tmp_path), "--model", str(tiny_onnx_model), "--detector", "none"]) == 0
    assert order == [("warmup", (40, 50)), "predict", "predict"]  # a gray image: HxW
    assert "ms (after warm-up)" in capsys.readouterr().out
