"""Reference preprocessing: the specification that training, calibration and the CUDA kernel must match.

face box (x1, y1, x2, y2) → square of side ``max(w, h) * crop_margin`` around the box centre → bilinear
sampling with half-pixel centres (OpenCV INTER_LINEAR convention, replicated border) straight from the
frame to the network size → colour conversion → ``x * alpha + beta`` per channel → NCHW float32.

``preprocess_reference`` is vectorised numpy in float32 without rounding: the spec the CUDA kernel
(``cpp_ext/``, ``fer_edge.preprocess.cuda``) is checked against. ``fer_edge.preprocess.opencv.preprocess``
(one ``cv2.warpAffine`` per box on uint8) is what the CPU runtime, training and calibration use; the two
agree within half a grey level before normalisation (tested). numpy's per-call overhead makes the reference
~5x slower on small batches.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..card import ModelCard
from .inputs import as_bgr_frame, resolve_boxes

# ITU-R BT.601 luma weights, the ones cv2.COLOR_BGR2GRAY uses.
GRAY_WEIGHTS_BGR = (0.114, 0.587, 0.299)
_GRAY_COLUMN = np.asarray(GRAY_WEIGHTS_BGR, dtype=np.float32).reshape(3, 1)


def square_boxes(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Expand (N, 4) xyxy boxes to squares of side ``max(w, h) * margin`` around their centres."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * np.float32(margin)
    half = side * 0.5
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


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


CHUNK_BOXES = 256  # boxes sampled at once; bounds the float intermediates for huge box counts


def run_pipeline(frame, boxes, card: ModelCard, margin: Optional[float], sample) -> np.ndarray:
    """Validate, square the boxes, sample with ``sample(frame, squares, (h, w))``, convert and normalise."""
    frame = as_bgr_frame(frame)
    boxes, margin = resolve_boxes(frame, boxes, card.crop_margin, margin)
    squares = square_boxes(boxes, margin)
    if squares.shape[0] == 0:
        return np.zeros((0,) + card.input_shape, dtype=np.float32)
    if squares.shape[0] <= CHUNK_BOXES:
        return finish(sample(frame, squares, card.input_size).astype(np.float32, copy=False), card)
    # Many boxes: sample and normalise in chunks into one output, so the float intermediates stay bounded.
    out = np.empty((squares.shape[0],) + card.input_shape, dtype=np.float32)
    for i in range(0, squares.shape[0], CHUNK_BOXES):
        part = squares[i : i + CHUNK_BOXES]
        out[i : i + part.shape[0]] = finish(sample(frame, part, card.input_size).astype(np.float32, copy=False), card)
    return out


def finish(patches: np.ndarray, card: ModelCard) -> np.ndarray:
    """(N, H, W, Cin) float32 samples → the card's colour order, ``x * alpha + beta``, NCHW float32."""
    patches = _convert_color(patches, card.color)
    alpha, beta = card.alpha_beta()
    out = patches * np.asarray(alpha, np.float32) + np.asarray(beta, np.float32)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)


def preprocess_reference(
    frame: np.ndarray,
    boxes: Optional[np.ndarray],
    card: ModelCard,
    *,
    margin: Optional[float] = None,
) -> np.ndarray:
    """The specification, vectorised over boxes in float32 (see module docstring); same signature as ``preprocess``."""
    return run_pipeline(frame, boxes, card, margin, _sample_bilinear)
