"""AffectNet: the official ``training.csv``/``validation.csv`` with face boxes, or class folders."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .base import LabelledData, Split
from .base import require_path as _require_path
from .folders import read_class_folders

# AffectNet official csv "expression" codes 0..7 (8 = none, 9 = uncertain, 10 = no face: excluded).
AFFECTNET_LABELS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")

AFFECTNET_SOURCE = {
    "dataset": "AffectNet",
    "licence": "AffectNet: research-only licence agreement (Mollahosseini et al., 2017); not for commercial use",
}


def read_affectnet_folders(root, *, num_classes: int = 8) -> LabelledData:
    """AffectNet class folders (``train_set``/``val_set`` or train/val; numeric 0..7 codes or names)."""
    root = _require_path(root, "AffectNet folder")
    labels = AFFECTNET_LABELS[:num_classes]
    for train_name, val_name in (("train_set", "val_set"), ("train", "val")):
        if (root / train_name).is_dir():
            splits = {"train": read_class_folders(root / train_name, labels=labels, numeric_base=0).splits["train"]}
            if (root / val_name).is_dir():
                splits["val"] = read_class_folders(root / val_name, labels=labels, numeric_base=0).splits["train"]
            return LabelledData(labels, splits, dict(AFFECTNET_SOURCE, path=str(root)))
    data = read_class_folders(root, labels=labels, numeric_base=0, source=AFFECTNET_SOURCE)
    return data


_AFFECTNET_CSV_COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")


def _read_affectnet_csv(csv_path: Path, image_root: Path, num_classes: int) -> Split:
    paths, boxes, ys = [], [], []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not set(_AFFECTNET_CSV_COLUMNS) <= set(reader.fieldnames):
            raise InvalidInputError(f"{csv_path}: expected AffectNet columns {list(_AFFECTNET_CSV_COLUMNS)}, "
                                    f"found {reader.fieldnames}")
        for i, row in enumerate(reader):
            try:
                y = int(row["expression"])
                x0, y0 = float(row["face_x"]), float(row["face_y"])
                w, h = float(row["face_width"]), float(row["face_height"])
            except ValueError:
                raise InvalidInputError(f"{csv_path}: line {i + 2} has a non-numeric box or expression") from None
            if y < 0 or y > 10:
                raise InvalidInputError(f"{csv_path}: line {i + 2}: unknown expression code {y} (AffectNet uses 0..10)")
            if y >= num_classes:  # 7 = contempt when 7 classes; 8..10 = none / uncertain / no face
                continue
            paths.append(image_root / row["subDirectory_filePath"])
            boxes.append([x0, y0, x0 + max(w, 1.0), y0 + max(h, 1.0)])
            ys.append(y)
    return Split(paths, np.array(ys, np.int64), boxes=np.asarray(boxes, np.float32).reshape(-1, 4))


def read_affectnet_csv(root, *, num_classes: int = 8) -> LabelledData:
    """Official AffectNet release: ``training.csv``/``validation.csv`` with face boxes + ``Manually_Annotated_Images/``.

    The official validation set serves as test (AffectNet's test set is not public) and val is held out from
    train (``val_fraction``). ``root`` is the folder holding the csv files, or a csv file itself.
    """
    root = _require_path(root, "AffectNet folder or csv")
    folder = root.parent if root.is_file() else root
    train_csv = root if root.is_file() else folder / "training.csv"
    if not train_csv.is_file():
        raise InvalidInputError(f"AffectNet training csv not found: {train_csv}")
    image_root = folder / "Manually_Annotated_Images"
    if not image_root.is_dir():
        image_root = folder
    splits = {"train": _read_affectnet_csv(train_csv, image_root, num_classes)}
    val_csv = folder / "validation.csv"
    if val_csv.is_file() and not root.is_file():
        splits["test"] = _read_affectnet_csv(val_csv, image_root, num_classes)
    return LabelledData(AFFECTNET_LABELS[:num_classes], splits, dict(AFFECTNET_SOURCE, path=str(root)))
