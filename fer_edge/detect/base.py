"""What every face detector returns (``Detections``) and the interface the Recognizer calls (``FaceDetector``)."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

__all__ = ["LANDMARK_NAMES", "Detections", "FaceDetector"]

#: Order of the keypoints in ``Detections.landmarks``; right/left are the person's own (the right eye is on the
#: viewer's left in a frontal face).
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True, eq=False)  # arrays: element-wise == would make equality ambiguous
class Detections:
    """Faces found in one frame, best score first.

    Attributes:
        boxes: (N, 4) float32 x1, y1, x2, y2 in frame pixels (may reach past the frame edge for cut faces).
        scores: (N,) float32 detector confidences in [0, 1].
        landmarks: (N, 6, 2) float32 (x, y) frame pixels in ``LANDMARK_NAMES`` order.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        n = self.boxes.shape[0]
        k = len(LANDMARK_NAMES)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,) or self.landmarks.shape != (n, k, 2):
            raise ValueError(
                f"inconsistent detection shapes: boxes {self.boxes.shape}, scores {self.scores.shape}, "
                f"landmarks {self.landmarks.shape}"
            )

    @classmethod
    def empty(cls) -> Detections:
        """No faces."""
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, len(LANDMARK_NAMES), 2), np.float32)
        )

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __repr__(self) -> str:
        return f"Detections({len(self)} faces, scores={np.round(self.scores, 3).tolist()})"


class FaceDetector(abc.ABC):
    """A face detector: frame in, ``Detections`` out. Use as a context manager or call ``close()``."""

    name = "detector"

    @abc.abstractmethod
    def detect(self, frame: np.ndarray) -> Detections:
        """Find the faces in a BGR uint8 frame (HxW gray and HxWx4 BGRA accepted)."""

    def __call__(self, frame: np.ndarray) -> Detections:
        return self.detect(frame)

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release the detector's resources (a no-op by default)."""

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
