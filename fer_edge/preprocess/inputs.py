"""Validation of what callers hand to preprocessing: camera frames and face boxes (shared by every implementation)."""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from ..errors import InvalidInputError


def frame_view(frame: object, name: str = "frame") -> np.ndarray:
    """Validate a camera frame and return it as an HxWxC uint8 view (C in {1, 3, 4}), copying nothing."""
    if frame is None:
        raise InvalidInputError(f"{name} is None; pass a uint8 numpy array (e.g. from cv2.imread or a camera)")
    if not isinstance(frame, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy array, got {type(frame).__name__}")
    if frame.size == 0:
        raise InvalidInputError(f"{name} is empty (shape {frame.shape}); pass an image with pixels")
    if frame.dtype != np.uint8:
        raise InvalidInputError(
            f"{name} must be uint8 (0..255), got {frame.dtype}; convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.ndim != 3 or frame.shape[2] not in (1, 3, 4):
        raise InvalidInputError(
            f"{name} must be HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA), got shape {frame.shape}"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InvalidInputError(f"{name} is empty (shape {frame.shape})")
    return frame


def as_bgr_frame(frame: object, name: str = "frame") -> np.ndarray:
    """Validate a camera frame and return it as C-contiguous HxWxC uint8 with C in {1, 3} (BGRA loses alpha).

    Accepts HxW gray, HxWx1 gray, HxWx3 BGR and HxWx4 BGRA uint8 arrays. A BGRA or otherwise non-contiguous
    frame (a crop view, a flipped frame) is copied here once, so OpenCV does not copy it again for every face.
    """
    frame = frame_view(frame, name)
    if frame.shape[2] == 4:
        # cvtColor drops alpha ~5x faster than numpy's strided copy of frame[:, :, :3] (11 vs 61 ms at 1080p)
        return cv2.cvtColor(frame if frame.strides[1:] == (4, 1) else np.ascontiguousarray(frame), cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(frame)


def validate_boxes(boxes: object) -> np.ndarray:
    """Return boxes as (N, 4) float32 xyxy or raise InvalidInputError."""
    try:
        arr = np.asarray(boxes, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"boxes must be numbers shaped (N, 4) as x1, y1, x2, y2: {exc}") from exc
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InvalidInputError(f"boxes must be shaped (N, 4) as x1, y1, x2, y2, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("boxes contain NaN or infinite values")
    if np.any(arr[:, 2] <= arr[:, 0]) or np.any(arr[:, 3] <= arr[:, 1]):
        raise InvalidInputError("every box needs x2 > x1 and y2 > y1 (format x1, y1, x2, y2)")
    return arr


def resolve_boxes(
    frame: np.ndarray, boxes: Optional[object], card_margin: float, margin: Optional[float]
) -> Tuple[np.ndarray, float]:
    """(validated (N, 4) boxes, crop margin): no boxes means the whole frame with margin 1.0 unless overridden."""
    if boxes is None:
        h, w = frame.shape[:2]
        return np.array([[0, 0, w, h]], dtype=np.float32), 1.0 if margin is None else float(margin)
    return validate_boxes(boxes), float(card_margin if margin is None else margin)
