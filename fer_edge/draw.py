"""Annotate a frame with faces: box, label, confidence bar, track id (returns a copy)."""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

import cv2
import numpy as np

from .face import Face
from .preprocess import as_bgr_frame

# BGR colours per common expression name; other labels get a stable colour from their hash.
PALETTE: Dict[str, Tuple[int, int, int]] = {
    "neutral": (200, 200, 200), "happiness": (0, 200, 255), "happy": (0, 200, 255),
    "surprise": (255, 200, 0), "sadness": (255, 80, 0), "sad": (255, 80, 0),
    "anger": (0, 0, 230), "angry": (0, 0, 230), "disgust": (0, 150, 0), "fear": (200, 0, 200),
    "contempt": (0, 100, 160),
}


def color_for(label: str) -> Tuple[int, int, int]:
    if label in PALETTE:
        return PALETTE[label]
    h = sum(ord(c) * 31 ** i for i, c in enumerate(label)) % 180
    hsv = np.uint8([[[h, 200, 230]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw(
    frame: np.ndarray,
    faces: Iterable[Face],
    *,
    landmarks: bool = False,
    fps: Optional[float] = None,
) -> np.ndarray:
    """Return a BGR copy of ``frame`` with each face's box, label, confidence bar and track id.

    Args:
        frame: BGR, gray or BGRA uint8 frame (not modified).
        faces: results of ``Recognizer.predict``.
        landmarks: also draw the detector keypoints.
        fps: draw an FPS counter in the top-left corner.
    """
    img = as_bgr_frame(frame)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.shape[2] == 1 else img.copy()
    scale = max(0.4, min(img.shape[:2]) / 900.0)
    thick = max(1, int(round(2 * scale)))
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        color = color_for(face.label)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, thick)
        tag = f"{face.label} {face.confidence:.0%}"
        if face.track_id is not None:
            tag = f"#{face.track_id} {tag}"
        (tw, th), base = cv2.getTextSize(tag, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thick)
        ty = y1 - base - 6 if y1 - th - base - 6 > 0 else y2 + th + 6
        cv2.rectangle(img, (x1, ty - th - 2), (x1 + tw + 4, ty + base), color, -1)
        cv2.putText(img, tag, (x1 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick, cv2.LINE_AA)
        # Confidence bar under the box: full width = 100 %.
        bar_y = min(img.shape[0] - 1, y2 + 3)
        bar_h = max(3, thick * 2)
        cv2.rectangle(img, (x1, bar_y), (x2, bar_y + bar_h), (60, 60, 60), -1)
        cv2.rectangle(img, (x1, bar_y), (x1 + int((x2 - x1) * face.confidence), bar_y + bar_h), color, -1)
        if landmarks:
            for x, y in face.landmarks:
                cv2.circle(img, (int(round(x)), int(round(y))), max(1, thick), (0, 255, 0), -1)
    if fps is not None:
        cv2.putText(img, f"{fps:.1f} FPS", (8, int(24 * scale) + 8), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale,
                    (0, 255, 0), thick, cv2.LINE_AA)
    return img
