"""Class-folder layouts: ``root/<class>/*.jpg`` or ``root/{train,val,test}/<class>/*.jpg``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..errors import InvalidInputError
from .base import IMAGE_SUFFIXES, SPLITS, LabelledData, Split
from .base import require_path as _require_path


def _class_folder_index(name: str, labels: Sequence[str], numeric_base: Optional[int], where: Path) -> int:
    low = name.lower()
    lowered = [x.lower() for x in labels]
    if low in lowered:
        return lowered.index(low)
    aliases = {"happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise",
               "fearful": "fear", "disgusted": "disgust", "happiness": "happy", "sadness": "sad", "anger": "angry",
               "surprise": "surprised"}
    if aliases.get(low) in lowered:
        return lowered.index(aliases[low])
    if name.isdigit() and numeric_base is not None:
        i = int(name) - numeric_base
        if 0 <= i < len(labels):
            return i
    raise InvalidInputError(f"{where / name}: unknown class folder {name!r}; expected one of {list(labels)}"
                            + (f" or {numeric_base}..{numeric_base + len(labels) - 1}" if numeric_base is not None
                               else ""))


def _scan_class_folders(root: Path, labels: Optional[Sequence[str]], numeric_base: Optional[int]):
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise InvalidInputError(f"{root}: no class folders found (expected root/<class>/*.jpg)")
    if labels is None:
        labels = tuple(p.name for p in folders)
    if numeric_base is None and all(p.name.isdigit() for p in folders):
        numeric_base = 0 if min(int(p.name) for p in folders) == 0 else 1
    paths, ys = [], []
    for folder in folders:
        idx = _class_folder_index(folder.name, labels, numeric_base, root)
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InvalidInputError(f"{folder}: class folder is empty (no {'/'.join(IMAGE_SUFFIXES)} files)")
        paths.extend(files)
        ys.extend([idx] * len(files))
    return tuple(labels), paths, np.array(ys, dtype=np.int64)


def read_class_folders(root, *, labels: Optional[Sequence[str]] = None, numeric_base: Optional[int] = None,
                       source: Optional[Mapping[str, Any]] = None) -> LabelledData:
    """Any ``root/<class>/*.jpg`` folder, or ``root/{train,val,test}/<class>/*.jpg``.

    Args:
        root: dataset folder.
        labels: declared label order; default = sorted folder names. Folder names must match a label
            (case-insensitive, common aliases like happy/happiness) or be numbers ``numeric_base + index``.
        numeric_base: first number of numeric class folders (auto: 0 if a "0" folder exists else 1).
        source: provenance (dataset name, licence) for the model card.
    """
    root = _require_path(root, "image folder", "expected root/<class>/*.jpg or root/train/<class>/*.jpg")
    split_dirs = {s: root / d for s in SPLITS for d in ((s,) + (("valid", "validation") if s == "val" else ()))
                  if (root / d).is_dir()}
    splits = {}
    if "train" in split_dirs:
        found_labels = labels
        for s, d in split_dirs.items():
            found_labels, paths, ys = _scan_class_folders(d, found_labels, numeric_base)
            splits[s] = Split(paths, ys)
        labels = found_labels
    else:
        labels, paths, ys = _scan_class_folders(root, labels, numeric_base)
        splits["train"] = Split(paths, ys)
    return LabelledData(tuple(labels), splits, dict(source or {"dataset": root.name}, path=str(root)))
