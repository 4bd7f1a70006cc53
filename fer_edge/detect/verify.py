"""Second opinion on a doubtful face box: BlazeFace full range on a crop around it.

YuNet was trained on WIDER FACE and fires on frontal animal faces (a dog's face in ``dogs.jpg`` scores 0.87,
above real 30 px faces in group photos at 0.81-0.86). BlazeFace full range, trained on human faces only, scores
that dog's crop 0.04 and every YuNet-found human face of our labelled photos 0.56 or more (docs/detector.md), so
big YuNet boxes scoring below a cut-off are kept only when BlazeFace confirms them (``YuNet.verify_below``,
``verify_min_fraction``); small ones are not checked (each check costs a BlazeFace run, ~4 ms).
"""

from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

__all__ = ["CropVerifier"]

_CONTEXT = 2.0  # crop side = this x the box's longer side: the face fills about half of BlazeFace's input


class CropVerifier:
    """Confirms face boxes with BlazeFace full range run on a square crop centred on each box.

    Args:
        threshold: BlazeFace score a crop must reach for its box to count as a face.
        threads, providers: for BlazeFace's ONNX Runtime session.
    """

    def __init__(self, threshold: float = 0.3, threads: Optional[int] = None,
                 providers: Optional[Sequence[str]] = None):
        from .blazeface import VARIANTS, BlazeFace

        self.threshold = float(threshold)
        self._side = VARIANTS["full"].input_size
        self._detector = BlazeFace("full", score_threshold=min(max(self.threshold, 0.01), 0.99), threads=threads,
                                   providers=providers)

    def crop(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The square crop (``_CONTEXT`` x the box's longer side, black outside the frame) at BlazeFace's input size."""
        cx, cy = (box[0] + box[2]) * 0.5, (box[1] + box[3]) * 0.5
        k = self._side / (max(box[2] - box[0], box[3] - box[1]) * _CONTEXT)
        half = self._side * 0.5
        affine = np.array([[k, 0, half - cx * k], [0, k, half - cy * k]], np.float32)
        return cv2.warpAffine(frame, affine, (self._side, self._side), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)

    def score(self, frame: np.ndarray, box: np.ndarray) -> float:
        """BlazeFace's best score on the crop around ``box`` (0 when it finds nothing)."""
        found = self._detector.detect(self.crop(frame, box))
        return float(found.scores.max()) if len(found) else 0.0

    def confirm(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N,) bool: which boxes BlazeFace confirms as faces."""
        return np.array([self.score(frame, b) >= self.threshold for b in boxes], dtype=bool)

    def close(self) -> None:
        self._detector.close()
