"""Face: one detected face with its expression; small, typed, printable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class Face:
    """A face in a frame and the classifier's verdict on it.

    Attributes:
        box: (x1, y1, x2, y2) in frame pixels.
        score: detector confidence (1.0 for caller-given boxes and crops).
        landmarks: ((x, y), ...) keypoints from the detector, or empty: YuNet (default) gives 5 (right eye, left
            eye, nose, right and left mouth corner; the person's own right/left), BlazeFace 6 (eyes, nose,
            mouth, ears); ``Detections.landmark_names`` names them.
        label: most probable expression.
        confidence: probability of ``label``.
        probs: probability of every label, in the card's label order.
        track_id: stable id across video frames when tracking is on, else None.
    """

    box: Tuple[float, float, float, float]
    score: float
    label: str
    confidence: float
    probs: Dict[str, float] = field(default_factory=dict)
    landmarks: Tuple[Tuple[float, float], ...] = ()
    track_id: Optional[int] = None

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "label": self.label,
            "confidence": round(float(self.confidence), 4),
            "probs": {k: round(float(v), 4) for k, v in self.probs.items()},
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "track_id": self.track_id,
        }

    def __str__(self) -> str:
        x1, y1, x2, y2 = (int(round(v)) for v in self.box)
        tid = "" if self.track_id is None else f" #{self.track_id}"
        return f"Face{tid}({self.label} {self.confidence:.0%} at [{x1}, {y1}, {x2}, {y2}])"
