"""Dataset readers on small fixture files generated here: label orders, splits, boxes, soft targets, bad input."""

import csv
import logging

import cv2
import numpy as np
import pytest

from fer_edge import datasets as D
from fer_edge.card import FER2013_LABELS, FERPLUS_LABELS, ModelCard
from fer_edge.errors import InvalidInputError

RNG = np.random.default_rng(0)


def _img(path, side=12, color=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = RNG.integers(0, 255, size=(side, side, 3) if color else (side, side)).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return img


def _pixels(seed):
    return " ".join(str(v) for v in np.random.default_rng(seed).integers(0, 255, 64))


def _fer2013(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)


# ----------------------------------------------------------------------------------------------- majority rule
def test_ferplus_majority_rule():
    votes = np.array([
        [6, 2, 0, 0, 0, 0, 0, 0, 2, 0],  # neutral, clear majority
        [4, 4, 0, 0, 0, 0, 0, 0, 2, 0],  # tie → excluded
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # only single votes → excluded
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 8],  # not a face → excluded
        [5, 1, 0, 0, 0, 0, 0, 1, 0, 0],  # single votes dropped → neutral
    ])
    assert D.votes_to_majority(votes).tolist() == [0, -1, -1, -1, 0]
    soft = D.votes_to_soft(votes)
    assert soft.shape == (5, 8)
    np.testing.assert_allclose(soft[0], [0.75, 0.25, 0, 0, 0, 0, 0, 0])
    assert soft[3].sum() == 0


# ----------------------------------------------------------------------------------------------- csv readers
def test_fer2013_csv(tmp_path, caplog):
    p = tmp_path / "fer2013.csv"
    _fer2013(p, [[3, _pixels(0), "Training"], [0, _pixels(1), "Training"], [6, _pixels(2), "PublicTest"],
                 [5, _pixels(3), "PrivateTest"], [2, "1 2 3", "Training"]])
    assert D.guess_dataset(p) == "fer2013_csv"
    with caplog.at_level(logging.WARNING):
        d = D.read_fer2013_csv(p)  # (load_dataset would also insist that every class has training images)
    assert d.labels == FER2013_LABELS
    assert d.splits["train"].labels.tolist() == [3, 0]
    assert d.splits["val"].labels.tolist() == [6] and d.splits["test"].labels.tolist() == [5]
    assert d.splits["train"].images[0].shape == (8, 8)
    assert "skipped 1 row" in caplog.text


def test_fer2013_unknown_usage_names_the_row(tmp_path):
    p = tmp_path / "fer2013.csv"
    _fer2013(p, [[3, _pixels(0), "Training"], [0, _pixels(1), "Holdout"]])
    with pytest.raises(InvalidInputError, match=r"row 3 .*'Holdout'"):
        D.read_fer2013_csv(p)


def test_ferplus_csv_pairs_votes_with_fer2013_rows(tmp_path):
    _fer2013(tmp_path / "fer2013.csv", [[3, _pixels(0), "Training"], [0, _pixels(1), "Training"],
                                        [6, _pixels(2), "PublicTest"], [5, _pixels(3), "PrivateTest"]])
    with open(tmp_path / "fer2013new.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Usage", "Image name"] + list(D.FERPLUS_VOTE_COLUMNS))
        w.writerow(["Training", "fer0000000.png", 0, 10, 0, 0, 0, 0, 0, 0, 0, 0])
        w.writerow(["Training", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10])  # dropped by FER+ (not a face)
        w.writerow(["PublicTest", "fer0000002.png", 0, 0, 0, 0, 0, 0, 0, 0, 4, 6])
        w.writerow(["PrivateTest", "fer0000003.png", 0, 0, 8, 2, 0, 0, 0, 0, 0, 0])
    assert D.guess_dataset(tmp_path / "fer2013new.csv") == "ferplus_csv"
    d = D.read_ferplus_csv(tmp_path / "fer2013new.csv", tmp_path / "fer2013.csv")
    assert d.labels == FERPLUS_LABELS
    assert len(d.splits["train"]) == 1 and d.splits["train"].labels.tolist() == [1]
    assert d.splits["val"].labels.tolist() == [-1]
    assert d.splits["test"].labels.tolist() == [2]
    np.testing.assert_allclose(d.splits["test"].soft[0][:4], [0, 0, 0.8, 0.2])


def test_ferplus_csv_row_count_mismatch(tmp_path):
    _fer2013(tmp_path / "fer2013.csv", [[3, _pixels(0), "Training"]])
    with open(tmp_path / "fer2013new.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Usage", "Image name"] + list(D.FERPLUS_VOTE_COLUMNS))
        w.writerow(["Training", "a.png"] + [1] * 10)
        w.writerow(["Training", "b.png"] + [1] * 10)
    with pytest.raises(InvalidInputError, match="2 rows but .*fer2013.csv has 1"):
        D.read_ferplus_csv(tmp_path / "fer2013new.csv", tmp_path / "fer2013.csv")


# ----------------------------------------------------------------------------------------------- folder layouts
def test_ferplus_folder_layout(tmp_path):
    for folder, n in (("FER2013Train", 3), ("FER2013Valid", 1)):
        rows = []
        for i in range(n):
            _img(tmp_path / folder / f"fer{i:07d}.png", 48, color=False)
            rows.append([f"fer{i:07d}.png", "(0, 0, 48, 48)"] + [0, 0, 0, 9, 1, 0, 0, 0, 0, 0])
        with open(tmp_path / folder / "label.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    assert D.guess_dataset(tmp_path) == "ferplus_folders"
    d = D.read_ferplus_folders(tmp_path)
    assert d.labels == FERPLUS_LABELS
    assert d.splits["train"].labels.tolist() == [3, 3, 3]
    np.testing.assert_allclose(d.splits["train"].boxes[0], [0, 0, 48, 48])
    from fer_edge.trainers.transforms import materialize

    t = materialize(d.splits["val"], ModelCard(labels=FERPLUS_LABELS))
    assert tuple(t.x.shape) == (1, 1, 48, 48)


def test_rafdb_label_file_layout(tmp_path):
    lines = ["train_00001.jpg 1", "train_00002.jpg 7", "test_0001.jpg 4"]
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for name in ("train_00001", "train_00002", "test_0001"):
        _img(tmp_path / "Image" / "aligned" / f"{name}_aligned.jpg", 100)
    assert D.guess_dataset(tmp_path) == "rafdb"
    d = D.read_rafdb(tmp_path)
    assert d.labels == D.RAFDB_LABELS
    assert d.splits["train"].labels.tolist() == [0, 6]  # surprise, neutral
    assert d.splits["test"].labels.tolist() == [3]  # happiness
    assert str(d.splits["train"].images[0]).endswith("train_00001_aligned.jpg")
    assert "non-commercial" in d.source["licence"]
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 9\n")
    with pytest.raises(InvalidInputError, match="list_patition_label.txt: line 1: unknown label 9"):
        D.read_rafdb(tmp_path)


@pytest.mark.parametrize("names", [[str(i) for i in range(7)], [str(i) for i in range(1, 8)]])
def test_rafdb_numeric_folders(tmp_path, names):
    for split in ("train", "test"):
        for n in names:
            _img(tmp_path / split / n / f"{split}_{n}.jpg")
    d = D.load_dataset(tmp_path, "rafdb_folders")
    assert d.labels == D.RAFDB_LABELS
    assert sorted(d.splits["train"].labels.tolist()) == list(range(7))
    assert sorted(d.splits["test"].labels.tolist()) == list(range(7))


def test_affectnet_csv_with_face_boxes(tmp_path):
    root = tmp_path
    rows = [("1/a.jpg", 2, 3, 20, 22, 1), ("1/b.jpg", 0, 0, 10, 10, 7), ("1/c.jpg", 0, 0, 10, 10, 9),
            ("2/d.jpg", 1, 1, 8, 8, 0)]
    for sub, *_ in rows:
        _img(root / "Manually_Annotated_Images" / sub, 32)
    for name, sel in (("training.csv", rows), ("validation.csv", rows[:1])):
        with open(root / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
                        "facial_landmarks", "expression", "valence", "arousal"])
            for sub, x, y, fw, fh_, e in sel:
                w.writerow([sub, x, y, fw, fh_, "", e, 0.1, 0.2])
    d8 = D.read_affectnet_csv(root, num_classes=8)
    assert d8.labels == D.AFFECTNET_LABELS
    assert d8.splits["train"].labels.tolist() == [1, 7, 0]  # code 9 (uncertain) excluded
    np.testing.assert_allclose(d8.splits["train"].boxes[0], [2, 3, 22, 25])
    assert d8.splits["test"].labels.tolist() == [1]
    d7 = D.read_affectnet_csv(root, num_classes=7)
    assert d7.labels == D.AFFECTNET_LABELS[:7] and d7.splits["train"].labels.tolist() == [1, 0]
    from fer_edge.trainers.transforms import materialize

    t = materialize(d7.splits["train"], ModelCard(labels=d7.labels, input_size=(16, 16)))
    assert tuple(t.x.shape) == (2, 1, 16, 16)


def test_affectnet_class_folders(tmp_path):
    for split in ("train_set", "val_set"):
        for code in range(8):
            _img(tmp_path / split / str(code) / f"{code}.jpg")
    d = D.load_dataset(tmp_path, "affectnet_folders")
    assert d.labels == D.AFFECTNET_LABELS and len(d.splits["val"]) == 8


def test_generic_class_folders_and_val_holdout(tmp_path):
    for cls in ("happy", "sad"):
        for i in range(10):
            _img(tmp_path / cls / f"{i}.png")
    d = D.load_dataset(tmp_path)
    assert d.labels == ("happy", "sad") and len(d.splits["train"]) == 20
    d2 = D.split_off_val(d, 0.2, seed=0)
    assert len(d2.splits["val"]) == 4 and len(d2.splits["train"]) == 16
    assert sorted(d2.splits["val"].labels.tolist()) == [0, 0, 1, 1]


def test_npz_with_ferplus_keys(tmp_path):
    votes = np.array([[8, 2, 0, 0, 0, 0, 0, 0, 0, 0]] * 4 + [[0, 0, 0, 0, 0, 0, 0, 1, 0, 0]] * 4)
    labels = np.array([0, 0, 0, 0, -1, -1, -1, -1])
    np.savez(tmp_path / "f.npz", x_train=np.zeros((8, 48, 48), np.uint8), y_train=labels, votes_train=votes,
             x_val=np.zeros((2, 48, 48), np.uint8), y_val=np.array([0, 1]), votes_val=votes[:2],
             leak_val=np.array([True, False]), class_names=np.array(FERPLUS_LABELS))
    d = D.read_npz(tmp_path / "f.npz")
    assert d.labels == FERPLUS_LABELS
    assert d.splits["train"].soft.shape == (8, 8) and d.splits["val"].leak.tolist() == [True, False]
    assert "MIT" in d.source["licence"]


def _ferplus_npz_with_fer2013_labels(path):
    votes = np.array([[0] * i + [8] + [0] * (9 - i) for i in range(8)])
    np.savez(path, x_train=np.zeros((8, 48, 48), np.uint8), y_train=np.arange(8), votes_train=votes,
             x_test=np.zeros((2, 48, 48), np.uint8), y_test=np.array([0, 1]), votes_test=votes[:2],
             leak_test=np.array([True, False]), class_names=np.array(FERPLUS_LABELS),
             fer2013_y_train=np.array([3, 6, 0, 2, 1, 5, 4, 0]), fer2013_y_test=np.array([5, 4]),
             fer2013_class_names=np.array(FER2013_LABELS))


def test_npz_alternative_label_set(tmp_path):
    """labels: fer2013 trains on the original FER2013 labels stored beside the FER+ ones (no re-pack)."""
    _ferplus_npz_with_fer2013_labels(tmp_path / "f.npz")
    d = D.load_dataset(tmp_path / "f.npz", label_set="fer2013")
    assert d.labels == FER2013_LABELS
    assert d.splits["train"].labels.tolist() == [3, 6, 0, 2, 1, 5, 4, 0] and d.splits["test"].labels.tolist() == [5, 4]
    assert d.splits["train"].soft is None  # FER+ votes do not describe FER2013 labels
    assert d.splits["test"].leak.tolist() == [True, False]
    assert d.source["labels"] == "fer2013"
    assert D.load_dataset(tmp_path / "f.npz").labels == FERPLUS_LABELS  # default unchanged


def test_npz_unknown_label_set_lists_the_available_ones(tmp_path):
    _ferplus_npz_with_fer2013_labels(tmp_path / "f.npz")
    with pytest.raises(InvalidInputError, match=r"'affectnet'.*\['fer2013'\]"):
        D.load_dataset(tmp_path / "f.npz", label_set="affectnet")


def test_label_set_with_a_non_npz_reader_is_an_error(tmp_path):
    _img(tmp_path / "train" / "happiness" / "0.png")
    with pytest.raises(InvalidInputError, match="npz"):
        D.load_dataset(tmp_path, "folder", label_set="fer2013")


# ----------------------------------------------------------------------------------------------- bad input
def test_missing_path_names_it(tmp_path):
    with pytest.raises(InvalidInputError, match="nope"):
        D.load_dataset(tmp_path / "nope.npz")
    with pytest.raises(InvalidInputError, match="no dataset given"):
        D.load_dataset("")


def test_npz_without_required_keys(tmp_path):
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(InvalidInputError, match="x_train and y_train"):
        D.load_dataset(tmp_path / "bad.npz")


def test_unknown_label_is_an_error_naming_the_folder(tmp_path):
    for cls in ("happiness", "grumpy"):
        _img(tmp_path / "train" / cls / "0.png")
    with pytest.raises(InvalidInputError, match="grumpy"):
        D.read_class_folders(tmp_path, labels=("happiness", "sadness"))


def test_label_out_of_range_names_the_file(tmp_path):
    np.savez(tmp_path / "r.npz", x_train=np.zeros((3, 8, 8), np.uint8), y_train=np.array([0, 1, 5]),
             class_names=np.array(["a", "b"]))
    with pytest.raises(InvalidInputError, match=r"r.npz.*label 5 outside 0..1"):
        D.load_dataset(tmp_path / "r.npz")


def test_empty_class(tmp_path):
    _img(tmp_path / "happy" / "0.png")
    (tmp_path / "sad").mkdir()
    with pytest.raises(InvalidInputError, match=r"sad: class folder is empty"):
        D.load_dataset(tmp_path)
    np.savez(tmp_path / "e.npz", x_train=np.zeros((3, 8, 8), np.uint8), y_train=np.array([0, 0, 0]),
             class_names=np.array(["a", "b"]))
    with pytest.raises(InvalidInputError, match=r"\['b'\] have no training images"):
        D.load_dataset(tmp_path / "e.npz")


def test_corrupt_image_is_skipped_with_a_counted_warning(tmp_path, caplog):
    for cls in ("a", "b"):
        for i in range(3):
            _img(tmp_path / cls / f"{i}.png")
    (tmp_path / "a" / "1.png").write_bytes(b"not a png")
    (tmp_path / "b" / "2.png").write_bytes(b"")
    d = D.load_dataset(tmp_path)
    from fer_edge.trainers.transforms import materialize

    with caplog.at_level(logging.WARNING):
        t = materialize(d.splits["train"], ModelCard(labels=d.labels, input_size=(12, 12)), where="fixture")
    assert t.skipped == 2 and len(t) == 4
    assert t.labels.tolist() == [0, 0, 1, 1]
    assert "skipped 2 unreadable/corrupt image(s)" in caplog.text
