"""What every face detector returns (``Detections``) and the interface the Recognizer calls (``FaceDetector``)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Tuple

import numpy as np

__all__ = ["LANDMARK_NAMES", "Detections", "FaceDetector"]

#: BlazeFace's keypoints, the default order of ``Detections.landmarks``; right/left are the person's own (the right
#: eye is on the viewer's left in a frontal face).
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True, eq=False)  # arrays: element-wise == would make equality ambiguous
class Detections:
    """Faces found in one frame, best score first.

    Attributes:
        boxes: (N, 4) float32 x1, y1, x2, y2 in frame pixels (may reach past the frame edge for cut faces).
        scores: (N,) float32 detector confidences in [0, 1].
        landmarks: (N, K, 2) float32 (x, y) frame pixels, one row per name in ``landmark_names``.
        landmark_names: what each keypoint is (``LANDMARK_NAMES`` for BlazeFace's 6; YuNet has 5, no ears).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    landmark_names: Tuple[str, ...] = LANDMARK_NAMES

    def __post_init__(self) -> None:
        n = self.boxes.shape[0]
        k = len(self.landmark_names)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,) or self.landmarks.shape != (n, k, 2):
            raise ValueError(
                f"inconsistent detection shapes: boxes {self.boxes.shape}, scores {self.scores.shape}, "
                f"landmarks {self.landmarks.shape} for {k} landmark names"
            )

    @classmethod
    def empty(cls, landmark_names: Tuple[str, ...] = LANDMARK_NAMES) -> Detections:
        """No faces."""
        k = len(landmark_names)
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, k, 2), np.float32), landmark_names
        )

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __repr__(self) -> str:
        return f"Detections({len(self)} faces, scores={np.round(self.scores, 3).tolist()})"


class FaceDetector(abc.ABC):
    """A face detector: frame in, ``Detections`` out. Use as a context manager or call ``close()``."""

    name = "detector"
    thread_safe = False  # True when detect() may run on several threads at once (Recognizer serialises it otherwise)

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
