"""The CPU preprocessing path: the reference math through one ``cv2.warpAffine`` per box on uint8.

What the CPU runtime, training and calibration use; it agrees with ``preprocess_reference`` within half a
grey level before normalisation (the warp rounds its uint8 result), tested in tests/runtime/test_preprocess.py.
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from ..card import ModelCard
from ..errors import InvalidInputError
from .reference import run_pipeline


def _sample_warp(frame: np.ndarray, squares: np.ndarray, out_hw: Tuple[int, int]) -> np.ndarray:
    """The reference's bilinear sampling through OpenCV (uint8 result, rounded)."""
    out_h, out_w = out_hw
    patches = np.empty((squares.shape[0], out_h, out_w, frame.shape[2]), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(squares.tolist()):
        sx, sy = (x2 - x1) / out_w, (y2 - y1) / out_h
        # Inverse map dst → src: src = dst * s + (x1 + s/2 - 1/2), the half-pixel-centre convention.
        m = np.array([[sx, 0.0, x1 + 0.5 * sx - 0.5], [0.0, sy, y1 + 0.5 * sy - 0.5]])
        warped = cv2.warpAffine(
            frame, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        patches[i] = warped.reshape(out_h, out_w, frame.shape[2])
    return patches


def preprocess(
    frame: np.ndarray,
    boxes: Optional[np.ndarray],
    card: ModelCard,
    *,
    margin: Optional[float] = None,
) -> np.ndarray:
    """Turn face boxes of one frame into the network's input batch.

    Args:
        frame: HxW, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA) uint8 image.
        boxes: (N, 4) x1, y1, x2, y2 pixel boxes; None means the whole frame is one face crop.
        card: the model's card (input size, colour, normalisation, crop margin).
        margin: overrides ``card.crop_margin`` (whole-frame crops use 1.0).

    Returns:
        (N, C, H, W) float32 array, C-contiguous.
    """
    return run_pipeline(frame, boxes, card, margin, _sample_warp)


def preprocess_crops(crops, card: ModelCard) -> np.ndarray:
    """Preprocess a list of face crops (each already a face) into one batch."""
    if isinstance(crops, np.ndarray) and crops.ndim in (2, 3) and crops.dtype == np.uint8:
        crops = [crops]
    if crops is None or len(crops) == 0:
        raise InvalidInputError("crops is empty; pass a face crop (uint8 image) or a list of them")
    return np.concatenate([preprocess(c, None, card) for c in crops], axis=0)
