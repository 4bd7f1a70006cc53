"""SSD anchor centres for the BlazeFace heads: the grid the regressors are offsets from."""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = ["SHORT_RANGE_LAYERS", "FULL_RANGE_LAYERS", "ssd_anchors"]

#: (stride, anchors per cell) of each output grid: short range 16x16x2 + 8x8x6 on 128x128 = 896 anchors.
SHORT_RANGE_LAYERS: Tuple[Tuple[int, int], ...] = ((8, 2), (16, 6))
#: full range 48x48x1 on 192x192 = 2304 anchors.
FULL_RANGE_LAYERS: Tuple[Tuple[int, int], ...] = ((4, 1),)


def ssd_anchors(input_size: int, layers: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Anchor centres in the network input, normalised to [0, 1].

    BlazeFace uses fixed-size anchors (width = height = 1 in normalised units), so only the centres matter.
    Order: layer by layer, then grid rows (y), columns (x), then the anchors of one cell, which is the order of
    the model's output rows.

    Args:
        input_size: side of the square network input in pixels.
        layers: (stride, anchors per cell) per output grid; the grid side is ``ceil(input_size / stride)``.

    Returns:
        (A, 2) float32 array of (x, y) centres.
    """
    parts = []
    for stride, per_cell in layers:
        side = -(-input_size // stride)
        centres = (np.arange(side, dtype=np.float32) + 0.5) / np.float32(side)
        xs, ys = np.meshgrid(centres, centres)  # (rows=y, cols=x)
        grid = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2)
        parts.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=np.float32)
