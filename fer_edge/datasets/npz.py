"""``.npz`` archives with ``x_<split>``/``y_<split>`` arrays (``ferplus.npz`` and its vote/leak extras)."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from ..card import FERPLUS_LABELS
from ..errors import InvalidInputError
from .base import SPLITS, LabelledData, Split
from .base import require_path as _require_path
from .ferplus import FERPLUS_SOURCE, votes_to_soft


def read_npz(path, *, labels: Optional[Sequence[str]] = None, label_set: str = "") -> LabelledData:
    """An ``.npz`` with ``x_<split>`` uint8 images and ``y_<split>`` labels (train/val/test).

    ``ferplus.npz`` specifics are used when present: ``votes_<split>`` (N, 10) become soft targets,
    ``class_names`` the label order, ``leak_<split>`` the duplicate flags. Otherwise label names come from
    ``class_names`` in the file or ``labels``.

    Args:
        label_set: "" reads ``y_<split>`` / ``class_names``; a name such as ``"fer2013"`` reads the alternative
            labels ``fer2013_y_<split>`` / ``fer2013_class_names`` stored beside them (hard labels only).
    """
    path = _require_path(path, "dataset file", "pass the .npz with x_train/y_train (and x_val/x_test)")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InvalidInputError(f"{path}: not a readable .npz file: {exc}") from exc
    with z:
        keys = set(z.files)
        if "x_train" not in keys or "y_train" not in keys:
            raise InvalidInputError(f"{path}: needs arrays x_train and y_train (found {sorted(keys)})")
        prefix = f"{label_set}_" if label_set else ""
        if label_set and f"{prefix}class_names" not in keys:
            sets = sorted(k[:-len("_class_names")] for k in keys if k.endswith("_class_names"))
            raise InvalidInputError(f"{path}: has no label set {label_set!r} (no {prefix}class_names array); "
                                    f"available: {sets or 'none'}; leave labels empty for y_*/class_names")
        if f"{prefix}class_names" in keys:
            names = tuple(str(x) for x in z[f"{prefix}class_names"].tolist())
        elif labels:
            names = tuple(labels)
        else:
            raise InvalidInputError(f"{path}: has no 'class_names' array; pass the label names in order")
        is_ferplus = not label_set and "votes_train" in keys and names == FERPLUS_LABELS
        splits: Dict[str, Split] = {}
        for s in SPLITS:
            if f"x_{s}" not in keys:
                continue
            if f"{prefix}y_{s}" not in keys:
                raise InvalidInputError(f"{path}: has x_{s} but no {prefix}y_{s}")
            x = z[f"x_{s}"]
            if x.dtype != np.uint8 or x.ndim not in (3, 4):
                raise InvalidInputError(f"{path}: x_{s} must be (N, H, W[, C]) uint8, got {x.shape} {x.dtype}")
            y = z[f"{prefix}y_{s}"].astype(np.int64)
            soft = votes_to_soft(z[f"votes_{s}"], len(names)) if is_ferplus and f"votes_{s}" in keys else None
            leak = z[f"leak_{s}"].astype(bool) if f"leak_{s}" in keys else None
            splits[s] = Split(x, y, soft=soft, leak=leak)
    source = dict(FERPLUS_SOURCE) if is_ferplus else {"dataset": path.stem}
    if label_set:
        source["labels"] = label_set
    source["path"] = str(path)
    return LabelledData(names, splits, source)
