"""A dataset split run through the runtime's preprocessing into numpy arrays, without torch.

Evaluation of an exported model (``fer-edge eval model.onnx``) and calibration need only these arrays; training
wraps them as tensors (``transforms.materialize``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from fer_edge.card import ModelCard
from fer_edge.datasets import Split
from fer_edge.errors import InvalidInputError
from fer_edge.preprocess import preprocess

logger = logging.getLogger(__name__)


@dataclass
class ArraySplit:
    """(N, C, H, W) float32 inputs in the card's normalisation and their targets (unreadable images dropped)."""

    x: np.ndarray
    labels: np.ndarray  # (N,) int64, -1 = no hard label
    soft: Optional[np.ndarray]  # (N, K) float32 or None
    leak: Optional[np.ndarray]  # (N,) bool or None
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def read_image(path) -> Optional[np.ndarray]:
    """Read an image file as BGR uint8 (as a camera frame would arrive); None when it cannot be decoded."""
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if buf.size == 0:
        return None
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _progress_bar(items, total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the [train] extra; evaluation of an ONNX model runs without it
        return items
    return tqdm(items, total=total, desc=desc, unit="img", leave=False, mininterval=1.0)


def arrays_from_split(split: Split, card: ModelCard, *, where: str = "", progress: bool = False) -> ArraySplit:
    """Run every image of ``split`` through ``fer_edge.preprocess`` with ``card``.

    Images without a box are whole-image face crops (margin 1.0, what the runtime does for crops); boxes use the
    card's crop margin. Unreadable images are skipped and counted (one warning), never a crash.
    """
    n = len(split)
    out = np.empty((n,) + card.input_shape, dtype=np.float32)
    keep = np.ones(n, dtype=bool)
    missing = []
    items = range(n)
    if progress and n > 2000:
        items = _progress_bar(items, n, f"preprocess {where}".strip())
    for i in items:
        img = split.images[i]
        if isinstance(img, (str, Path)):
            path = img
            img = read_image(path)
            if img is None:
                keep[i] = False
                missing.append(str(path))
                continue
        box = None if split.boxes is None else split.boxes[i]
        try:
            out[i] = preprocess(img, box, card)[0]
        except InvalidInputError as exc:
            keep[i] = False
            missing.append(f"{i}: {exc}")
    if missing:
        logger.warning("%s: skipped %d unreadable/corrupt image(s), e.g. %s", where or "dataset", len(missing),
                       missing[0])
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        raise InvalidInputError(f"{where or 'dataset'}: none of the {n} images could be read")
    x = out[idx] if len(idx) < n else out
    soft = None if split.soft is None else np.asarray(split.soft, np.float32)[idx]
    leak = None if split.leak is None else np.asarray(split.leak, bool)[idx]
    return ArraySplit(x, np.asarray(split.labels)[idx], soft, leak, skipped=int(n - len(idx)))
