"""Calibration sets: runtime-exact tensors, deterministic class-balanced subsets, sources and their bad inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fakes.tiny_fer import LABELS, SIZE, make_card, synthetic_crops
from fer_edge.calibration.dataset import (
    CalibrationSet,
    balanced_subset,
    calibration_set_from_images,
    calibration_set_from_npz,
    calibration_set_from_path,
    calibration_set_from_reader,
    calibration_set_from_video,
)

from fer_edge.errors import InvalidInputError
from fer_edge.preprocess import preprocess


class FakeDetector:
    """Finds one face box at a fixed place, or none; records the frames it saw."""

    def __init__(self, box=None):
        self.box, self.frames = box, 0

    def detect(self, frame):
        from fer_edge.detect import Detections

        self.frames += 1
        if self.box is None:
            return Detections.empty()
        return Detections(np.asarray([self.box], np.float32), np.asarray([0.9], np.float32),
                          np.zeros((1, 6, 2), np.float32))


def _write_folder(root, n=24, seed=0, labelled=True):
    imgs, labels = synthetic_crops(n, seed=seed)
    for i, (im, lab) in enumerate(zip(imgs, labels)):
        d = root / LABELS[lab] if labelled else root
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:03d}.png"), im)
    return imgs, labels


def test_balanced_subset_is_deterministic_and_balanced():
    labels = np.array([0] * 100 + [1] * 30 + [2] * 5 + [-1] * 10)
    a = balanced_subset(len(labels), labels, size=40, seed=3)
    assert np.array_equal(a, balanced_subset(len(labels), labels, size=40, seed=3))
    assert not np.array_equal(a, balanced_subset(len(labels), labels, size=40, seed=4))
    counts = np.bincount(labels[a], minlength=3)
    assert counts.tolist() == [18, 17, 5]  # the rare class gives all it has, the rest share the remainder
    assert np.all(labels[a] >= 0)
    assert len(balanced_subset(10, None, size=512)) == 10
    assert len(np.unique(balanced_subset(1000, None, size=64, seed=1))) == 64
    with pytest.raises(InvalidInputError):
        balanced_subset(10, None, size=0)


def test_folder_of_crops_gives_exactly_the_runtime_tensors(tmp_path):
    card = make_card()
    imgs, labels = _write_folder(tmp_path, n=24)
    data = calibration_set_from_images(tmp_path, card, size=12, faces="crops")
    assert data.inputs.shape == (12, 1, SIZE, SIZE) and data.inputs.dtype == np.float32
    assert data.labels is not None and np.bincount(data.labels, minlength=4).min() >= 2
    # each sample equals fer_edge.preprocess of one of the images of its class
    for x, lab in zip(data.inputs, data.labels):
        candidates = [preprocess(im, None, card)[0] for im in imgs[labels == lab]]
        assert any(np.array_equal(x, c) for c in candidates)
    again = calibration_set_from_images(tmp_path, card, size=12, faces="crops")
    assert again.sha256() == data.sha256()
    info = data.info()
    assert info["samples"] == 12 and len(info["sha256"]) == 64


def test_detector_finds_faces_in_large_frames(tmp_path):
    card = make_card()
    frame = np.full((240, 320, 3), 90, np.uint8)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.jpg"), frame)
    det = FakeDetector(box=(100, 60, 180, 150))
    data = calibration_set_from_images(tmp_path, card, detector=det)  # faces="auto": 320 px → detect
    assert det.frames == 3 and len(data) == 3
    np.testing.assert_array_equal(data.inputs[0], preprocess(frame, np.array([[100, 60, 180, 150]]), card)[0])


def test_non_face_images_error_names_the_fix(tmp_path):
    card = make_card()
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"dog{i}.jpg"), np.full((300, 300, 3), 40, np.uint8))
    with pytest.raises(InvalidInputError, match="no face") as err:
        calibration_set_from_images(tmp_path, card, detector=FakeDetector(None))
    assert "crops" in str(err.value)


def test_empty_and_unreadable_folders(tmp_path):
    card = make_card()
    with pytest.raises(InvalidInputError, match="no images"):
        calibration_set_from_images(tmp_path, card)
    (tmp_path / "a.png").write_bytes(b"not a png")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="could be read"):
        calibration_set_from_images(tmp_path, card)
    with pytest.raises(InvalidInputError, match="not found"):
        calibration_set_from_path(tmp_path / "nope", card)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InvalidInputError, match="image folder, a video"):
        calibration_set_from_path(tmp_path / "x.txt", card)


def test_npz_ferplus_layout_and_saved_sets(tmp_path):
    card = make_card()
    imgs, labels = synthetic_crops(50, seed=4)
    labels[:5] = -1
    np.savez(tmp_path / "fer.npz", x_train=imgs, y_train=labels)
    data = calibration_set_from_npz(tmp_path / "fer.npz", card, size=20)
    assert len(data) == 20 and np.all(data.labels >= 0)
    saved = data.save(tmp_path / "calib.npz")
    back = calibration_set_from_path(saved, card)
    np.testing.assert_array_equal(back.inputs, data.inputs)
    np.testing.assert_array_equal(back.labels, data.labels)
    np.savez(tmp_path / "bad.npz", z=np.zeros(3))
    with pytest.raises(InvalidInputError, match="keys"):
        calibration_set_from_npz(tmp_path / "bad.npz", card)
    np.savez(tmp_path / "wrong.npz", inputs=np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(InvalidInputError, match="card needs"):
        calibration_set_from_npz(tmp_path / "wrong.npz", card)


def test_reader_and_video(tmp_path):
    card = make_card()
    imgs, labels = synthetic_crops(30, seed=5)
    data = calibration_set_from_reader(list(zip(imgs, labels.tolist())), card, size=8)
    assert len(data) == 8 and data.labels is not None
    unlabelled = calibration_set_from_reader(iter(imgs), card, size=8)
    assert unlabelled.labels is None
    with pytest.raises(InvalidInputError, match="no samples"):
        calibration_set_from_reader([], card)

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write MJPG here")
    for i in range(12):
        writer.write(np.full((120, 160, 3), 60 + 10 * i, np.uint8))
    writer.release()
    det = FakeDetector(box=(40, 20, 100, 90))
    vdata = calibration_set_from_video(video, card, every=3, detector=det)
    assert len(vdata) == 4 and det.frames == 4
    with pytest.raises(InvalidInputError, match="no face"):
        calibration_set_from_video(video, card, detector=FakeDetector(None))


def test_calibration_set_batches():
    data = CalibrationSet(np.zeros((10, 1, 8, 8), np.float32))
    assert [len(b) for b in data.batches(4)] == [4, 4, 2]


def test_real_blazeface_finds_the_astronaut(tmp_path):
    """The default detector path, lazily loaded: one face from a public-domain photo (scikit-image)."""
    data_mod = pytest.importorskip("skimage.data")
    try:
        from fer_edge.detect import create_detector

        create_detector("blazeface")
    except Exception as exc:  # detector assets not built in this checkout
        pytest.skip(f"BlazeFace unavailable: {exc}")
    cv2.imwrite(str(tmp_path / "astronaut.png"), cv2.cvtColor(data_mod.astronaut(), cv2.COLOR_RGB2BGR))
    data = calibration_set_from_images(tmp_path, make_card(), faces="detect")
    assert len(data) == 1 and data.skipped == 0


def test_info_counts_classes_and_unlabelled_samples():
    # The .npz reader keeps label -1 samples when labelled ones run out; provenance must not crash on them.
    inputs = np.zeros((5, 1, 4, 4), np.float32)
    info = CalibrationSet(inputs, np.array([0, 2, -1, 2, -1]), "t").info()
    assert info["class_counts"] == [1, 0, 2] and info["unlabelled"] == 2
    info = CalibrationSet(inputs, np.full(5, -1), "t").info()
    assert info["class_counts"] == [] and info["unlabelled"] == 5
