"""How a camera frame lies in memory for the kernel: format, size, row pitch, plane pointers.

numpy frames (gray, BGR, BGRA; rows may be padded, e.g. a view cut out of a larger buffer) and ``Nv12Frame``
(the Y plane plus the interleaved UV plane at half resolution, as Jetson CSI cameras deliver it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import InvalidInputError
from .inputs import frame_view


@dataclass(frozen=True)
class Nv12Frame:
    """An NV12 frame: ``y`` is (H, W) uint8, ``uv`` is (H/2, W) uint8 (U, V interleaved); rows may be padded.

    ``Nv12Frame.from_array(a)`` splits the usual single (H * 3 / 2, W) buffer.
    """

    y: np.ndarray
    uv: np.ndarray

    @classmethod
    def from_array(cls, nv12: np.ndarray) -> Nv12Frame:
        if not isinstance(nv12, np.ndarray) or nv12.dtype != np.uint8 or nv12.ndim != 2 or nv12.shape[0] % 3:
            raise InvalidInputError("an NV12 buffer is a (H * 3 / 2, W) uint8 array (Y rows then UV rows)")
        h = nv12.shape[0] * 2 // 3
        return cls(nv12[:h], nv12[h:])

    @property
    def shape(self):
        return self.y.shape

    def to_bgr(self) -> np.ndarray:
        """OpenCV's NV12 → BGR conversion (what the kernel computes on the fly)."""
        import cv2

        return cv2.cvtColor(np.concatenate([self.y, self.uv], axis=0), cv2.COLOR_YUV2BGR_NV12)


@dataclass(frozen=True)
class FrameLayout:
    """A frame as the kernel reads it; ``pixels``/``uv`` are numpy views whose first byte starts the plane."""

    format: str
    width: int
    height: int
    pitch: int
    pixels: np.ndarray
    uv: Optional[np.ndarray] = None
    uv_pitch: int = 0

    @property
    def nbytes(self) -> int:
        """Bytes the packed (or Y) plane spans: (height - 1) * pitch + the last row."""
        bpp = {"bgr": 3, "bgra": 4, "gray": 1, "nv12": 1}[self.format]
        return (self.height - 1) * self.pitch + self.width * bpp

    @property
    def uv_nbytes(self) -> int:
        return 0 if self.uv is None else (self.height // 2 - 1) * self.uv_pitch + self.width

    def contiguous(self) -> FrameLayout:
        """The same frame with packed rows (what goes up to the device in one copy)."""
        if self.format == "nv12":
            y, uv = np.ascontiguousarray(self.pixels), np.ascontiguousarray(self.uv)
            return FrameLayout("nv12", self.width, self.height, self.width, y, uv, self.width)
        pixels = np.ascontiguousarray(self.pixels)
        return FrameLayout(self.format, self.width, self.height, pixels.strides[0], pixels)


def _rows_packed(a: np.ndarray, bpp: int) -> bool:
    """Pixels packed inside each row (rows may be padded), positive row stride."""
    if a.ndim == 2:
        return a.strides[1] == 1 and a.strides[0] >= a.shape[1]
    return a.strides[2] == 1 and a.strides[1] == bpp and a.strides[0] >= a.shape[1] * bpp


def frame_layout(frame: object) -> FrameLayout:
    """Describe a frame for the kernel (numpy gray/BGR/BGRA, or Nv12Frame); raises InvalidInputError if unusable."""
    if isinstance(frame, Nv12Frame):
        y, uv = frame.y, frame.uv
        for name, plane in (("y", y), ("uv", uv)):
            if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8 or plane.ndim != 2:
                raise InvalidInputError(f"Nv12Frame.{name} must be a 2-D uint8 array")
        h, w = y.shape
        if h == 0 or w == 0 or h % 2 or w % 2 or uv.shape != (h // 2, w):
            raise InvalidInputError(
                f"NV12 needs an even-sized Y plane (H, W) and a (H/2, W) UV plane, got y {y.shape}, uv {uv.shape}"
            )
        if not _rows_packed(y, 1):
            y = np.ascontiguousarray(y)
        if not _rows_packed(uv, 1):
            uv = np.ascontiguousarray(uv)
        return FrameLayout("nv12", w, h, y.strides[0], y, uv, uv.strides[0])
    a = frame_view(frame)  # the runtime's frame checks and messages; BGRA stays BGRA (the kernel skips alpha)
    channels = a.shape[2]
    fmt = {1: "gray", 3: "bgr", 4: "bgra"}[channels]
    if not _rows_packed(a if channels > 1 else a[:, :, 0], channels):
        a = np.ascontiguousarray(a)
    return FrameLayout(fmt, a.shape[1], a.shape[0], a.strides[0], a)
