"""Reference preprocessing: the specification that training, calibration and the CUDA kernel must match.

face box (x1, y1, x2, y2) → square of side ``max(w, h) * crop_margin`` around the box centre → bilinear
sampling with half-pixel centres (OpenCV INTER_LINEAR convention, replicated border) straight from the
frame to the network size → colour conversion → ``x * alpha + beta`` per channel → NCHW float32.

Two implementations of the same math: ``preprocess_reference`` (vectorised numpy, float32, no rounding: the
spec the CUDA kernel is checked against) and ``preprocess`` (one ``cv2.warpAffine`` per box on uint8: what the
runtime, training and calibration use). They agree within half a grey level before normalisation (tested);
numpy's per-call overhead makes the reference ~5x slower on small batches.
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from .card import ModelCard
from .errors import InvalidInputError

# ITU-R BT.601 luma weights, the ones cv2.COLOR_BGR2GRAY uses.
GRAY_WEIGHTS_BGR = (0.114, 0.587, 0.299)
_GRAY_COLUMN = np.asarray(GRAY_WEIGHTS_BGR, dtype=np.float32).reshape(3, 1)


def as_bgr_frame(frame: object, name: str = "frame") -> np.ndarray:
    """Validate a camera frame and return it as HxWxC uint8 with C in {1, 3} (BGRA loses alpha).

    Accepts HxW gray, HxWx1 gray, HxWx3 BGR and HxWx4 BGRA uint8 arrays.
    """
    if frame is None:
        raise InvalidInputError(f"{name} is None; pass a uint8 numpy array (e.g. from cv2.imread or a camera)")
    if not isinstance(frame, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy array, got {type(frame).__name__}")
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
    if frame.shape[2] == 4:
        frame = frame[:, :, :3]
    return frame


def square_boxes(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Expand (N, 4) xyxy boxes to squares of side ``max(w, h) * margin`` around their centres."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * np.float32(margin)
    half = side * 0.5
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


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


def _sample_bilinear(frame: np.ndarray, squares: np.ndarray, out_hw: Tuple[int, int]) -> np.ndarray:
    """Bilinear samples (N, H, W, C) float32 of ``frame`` over each square, replicated border."""
    height, width = frame.shape[:2]
    out_h, out_w = out_hw
    u = np.arange(out_w, dtype=np.float32) + 0.5
    v = np.arange(out_h, dtype=np.float32) + 0.5
    scale_x = (squares[:, 2] - squares[:, 0]) / np.float32(out_w)
    scale_y = (squares[:, 3] - squares[:, 1]) / np.float32(out_h)
    sx = squares[:, 0:1] + u[None, :] * scale_x[:, None] - 0.5  # (N, W)
    sy = squares[:, 1:2] + v[None, :] * scale_y[:, None] - 0.5  # (N, H)
    x0 = np.floor(sx)
    y0 = np.floor(sy)
    fx = (sx - x0)[:, None, :, None]
    fy = (sy - y0)[:, :, None, None]
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    xa, xb = np.clip(x0, 0, width - 1), np.clip(x0 + 1, 0, width - 1)
    ya, yb = np.clip(y0, 0, height - 1), np.clip(y0 + 1, 0, height - 1)
    # Gathers on the flattened frame with linear indices: several times faster than 2-D fancy indexing.
    flat = frame.reshape(height * width, frame.shape[2])
    rows_a, rows_b = (ya * width)[:, :, None], (yb * width)[:, :, None]
    cols_a, cols_b = xa[:, None, :], xb[:, None, :]
    shape = (squares.shape[0], out_h, out_w, frame.shape[2])

    def gather(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.take(flat, (rows + cols).ravel(), axis=0).reshape(shape).astype(np.float32)

    top = gather(rows_a, cols_a) * (1 - fx) + gather(rows_a, cols_b) * fx
    bottom = gather(rows_b, cols_a) * (1 - fx) + gather(rows_b, cols_b) * fx
    return top * (1 - fy) + bottom * fy


def _convert_color(patches: np.ndarray, color: str) -> np.ndarray:
    """(N, H, W, Cin) BGR or gray samples → (N, H, W, Cout) in the card's colour order."""
    if patches.shape[3] == 1:
        return patches if color == "gray" else np.repeat(patches, 3, axis=3)
    if color == "gray":
        return patches @ _GRAY_COLUMN
    if color == "rgb":
        return patches[:, :, :, ::-1]
    return patches


def _run(frame, boxes, card: ModelCard, margin: Optional[float], sample) -> np.ndarray:
    """Validate, square the boxes, sample with ``sample(frame, squares, (h, w))``, convert and normalise."""
    frame = as_bgr_frame(frame)
    if boxes is None:
        h, w = frame.shape[:2]
        boxes = np.array([[0, 0, w, h]], dtype=np.float32)
        margin = 1.0 if margin is None else margin
    squares = square_boxes(validate_boxes(boxes), card.crop_margin if margin is None else margin)
    if squares.shape[0] == 0:
        return np.zeros((0,) + card.input_shape, dtype=np.float32)
    return _finish(sample(frame, squares, card.input_size).astype(np.float32, copy=False), card)


def _finish(patches: np.ndarray, card: ModelCard) -> np.ndarray:
    patches = _convert_color(patches, card.color)
    alpha, beta = card.alpha_beta()
    out = patches * np.asarray(alpha, np.float32) + np.asarray(beta, np.float32)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)


def _sample_warp(frame: np.ndarray, squares: np.ndarray, out_hw: Tuple[int, int]) -> np.ndarray:
    """Same sampling as ``_sample_bilinear`` through OpenCV (uint8 result, rounded)."""
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
    return _run(frame, boxes, card, margin, _sample_warp)


def preprocess_reference(
    frame: np.ndarray,
    boxes: Optional[np.ndarray],
    card: ModelCard,
    *,
    margin: Optional[float] = None,
) -> np.ndarray:
    """The specification, vectorised over boxes in float32 (see module docstring); same signature as ``preprocess``."""
    return _run(frame, boxes, card, margin, _sample_bilinear)


def preprocess_crops(crops, card: ModelCard) -> np.ndarray:
    """Preprocess a list of face crops (each already a face) into one batch."""
    if isinstance(crops, np.ndarray) and crops.ndim in (2, 3) and crops.dtype == np.uint8:
        crops = [crops]
    if crops is None or len(crops) == 0:
        raise InvalidInputError("crops is empty; pass a face crop (uint8 image) or a list of them")
    return np.concatenate([preprocess(c, None, card) for c in crops], axis=0)
