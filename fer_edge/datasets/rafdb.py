"""RAF-DB basic: the official ``EmoLabel`` list + aligned images, or train/test class folders."""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..errors import InvalidInputError
from .base import LabelledData, Split
from .base import require_path as _require_path
from .folders import read_class_folders

# RAF-DB basic: EmoLabel/list_patition_label.txt uses 1..7 in this order (RAF-DB README).
RAFDB_LABELS = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")

RAFDB_SOURCE = {
    "dataset": "RAF-DB basic",
    "licence": "RAF-DB: released for non-commercial research use only under the RAF-DB agreement (Li et al., "
               "CVPR 2017)",
}


def read_rafdb(root) -> LabelledData:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` ("train_00001.jpg 5", labels 1..7) + ``Image/aligned``."""
    root = _require_path(root, "RAF-DB folder", "it must contain EmoLabel/ and Image/aligned/")
    label_file = root / "EmoLabel" / "list_patition_label.txt"
    if not label_file.is_file():
        raise InvalidInputError(f"RAF-DB label file not found: {label_file}")
    image_dir = root / "Image" / "aligned"
    if not image_dir.is_dir():
        raise InvalidInputError(f"RAF-DB aligned images not found: {image_dir}")
    per: Dict[str, Tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for i, line in enumerate(label_file.read_text(encoding="utf-8").splitlines()):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise InvalidInputError(f"{label_file}: line {i + 1} {line!r} is not 'name label'")
        name, lab = parts[0], int(parts[1])
        if not 1 <= lab <= len(RAFDB_LABELS):
            raise InvalidInputError(f"{label_file}: line {i + 1}: unknown label {lab} (RAF-DB basic uses 1..7)")
        split = "train" if name.startswith("train") else "test" if name.startswith("test") else None
        if split is None:
            raise InvalidInputError(f"{label_file}: line {i + 1}: image {name!r} is neither train_* nor test_*")
        stem, _, suffix = name.rpartition(".")
        per[split][0].append(image_dir / f"{stem}_aligned.{suffix}")
        per[split][1].append(lab - 1)
    splits = {s: Split(p, np.array(y)) for s, (p, y) in per.items() if p}
    return LabelledData(RAFDB_LABELS, splits, dict(RAFDB_SOURCE, path=str(root)))


def read_rafdb_folders(root) -> LabelledData:
    """RAF-DB in ``train/<k>`` / ``test/<k>`` folders (k = 1..7 RAF-DB codes, or 0..6, or class names)."""
    return read_class_folders(root, labels=RAFDB_LABELS, source=RAFDB_SOURCE)
