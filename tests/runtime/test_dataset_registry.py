"""The dataset reader registry: one registration makes a layout readable by name, guessable from its path,
accepted by the training config and usable as calibration data."""

import cv2
import numpy as np
import pytest

from fer_edge import datasets as D
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.datasets.registry import READERS, DatasetReader, register_reader
from fer_edge.errors import InvalidInputError


@pytest.fixture()
def toy_reader():
    """A made-up layout: a folder holding ``toy.txt`` lines "<gray value> <label>" (images generated)."""

    def read(path, options):
        rows = [line.split() for line in (path / "toy.txt").read_text().splitlines()]
        images = np.stack([np.full((16, 16), int(v), np.uint8) for v, _ in rows])
        return D.LabelledData(("neutral", "happiness"), {"train": D.Split(images, [int(y) for _, y in rows])})

    reader = register_reader(DatasetReader("toy", read, lambda p: (p / "toy.txt").is_file(), "toy layout"))
    yield reader
    del READERS["toy"]


def test_one_registration_is_enough(toy_reader, tmp_path):
    (tmp_path / "toy.txt").write_text("200 1\n10 0\n")
    assert D.guess_dataset(tmp_path) == "toy"  # before the generic class-folder fallback
    data = D.load_dataset(tmp_path)
    assert data.labels == ("neutral", "happiness") and data.splits["train"].labels.tolist() == [1, 0]
    from fer_edge.trainers.config import TrainConfig  # torch-free module

    assert TrainConfig(dataset="toy").dataset == "toy"
    with pytest.raises(InvalidInputError, match="one of"):
        TrainConfig(dataset="nope")
    from fer_edge.calibration.dataset import calibration_set_from_path

    card = ModelCard(labels=FERPLUS_LABELS)
    calib = calibration_set_from_path(tmp_path, card, size=2)
    assert calib.inputs.shape == (2, 1, 48, 48)
    assert sorted(calib.labels.tolist()) == [0, 1]  # neutral, happiness in the card's order


def test_built_in_layouts_keep_their_detection_order(tmp_path):
    (tmp_path / "happy").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "a.png"), np.zeros((8, 8), np.uint8))
    assert D.guess_dataset(tmp_path) == "folder"  # the fallback
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("")
    assert D.guess_dataset(tmp_path) == "rafdb"
    with pytest.raises(InvalidInputError, match="unknown dataset reader 'nope'"):
        D.load_dataset(tmp_path, "nope")
    assert list(READERS)[0] == "npz" and READERS["folder"].fallback


def test_calibration_reads_a_rafdb_folder_with_labels_mapped_to_the_card(tmp_path):
    lines = ["train_00001.jpg 4", "train_00002.jpg 7", "train_00003.jpg 1"]  # happiness, neutral, surprise
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "Image" / "aligned").mkdir(parents=True)
    for i in range(1, 4):
        cv2.imwrite(str(tmp_path / "Image" / "aligned" / f"train_0000{i}_aligned.jpg"),
                    np.full((40, 40, 3), 60 * i, np.uint8))
    from fer_edge.calibration.dataset import calibration_set_from_path

    calib = calibration_set_from_path(tmp_path, ModelCard(labels=FERPLUS_LABELS), size=8)
    assert sorted(calib.labels.tolist()) == [0, 1, 2]  # FER+ order: neutral, happiness, surprise
    assert calib.source.endswith("[train]")
