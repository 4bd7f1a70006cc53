"""Synthetic inputs for benchmarks and tests: the one-face camera frame and a video of moving faces."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..errors import InvalidInputError
from ..video import to_bgr

# Face region of skimage's astronaut image (rows, cols): head with some hair and neck, square.
_ASTRONAUT_HEAD = (slice(10, 250), slice(105, 345))


def _face_patch() -> Tuple[np.ndarray, str]:
    """A BGR head crop: skimage's astronaut (public domain NASA photo) when available, else a drawn face."""
    try:
        from skimage import data  # dev/test dependency, optional here

        img = data.astronaut()[:, :, ::-1]
        return np.ascontiguousarray(img[_ASTRONAUT_HEAD]), "skimage.data.astronaut() head"
    except Exception:  # skimage missing or its data unavailable
        import cv2

        patch = np.full((240, 240, 3), 200, np.uint8)
        cv2.ellipse(patch, (120, 125), (70, 92), 0, 0, 360, (140, 170, 215), -1)
        for x in (92, 148):
            cv2.circle(patch, (x, 105), 9, (40, 40, 40), -1)
        cv2.ellipse(patch, (120, 170), (28, 12), 0, 0, 180, (60, 60, 150), 3)
        return patch, "drawn face (install scikit-image for the astronaut photo)"


def benchmark_frames(
    frame_size: Tuple[int, int] = (640, 480), image: Optional[str] = None
) -> Dict[str, Any]:
    """The benchmark frames: one face centred, and four faces in a 2x2 grid, on a flat grey background.

    Returns:
        dict with "one" and "four" (HxWx3 uint8 BGR frames), "source" (where the face came from) and
        "boxes_one"/"boxes_four" (where the face patches were pasted; a fallback when detection finds nothing).
    """
    import cv2

    w, h = int(frame_size[0]), int(frame_size[1])
    if image is not None:
        patch = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if patch is None:
            raise InvalidInputError(f"cannot read the benchmark image {image}; pass a JPEG/PNG file")
        source = f"image {Path(image).name}"
    else:
        patch, source = _face_patch()

    def paste(frame, x, y, side):
        frame[y : y + side, x : x + side] = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
        return [x, y, x + side, y + side]

    one = np.full((h, w, 3), 118, np.uint8)
    side1 = min(w, h) // 2
    boxes_one = [paste(one, (w - side1) // 2, (h - side1) // 2, side1)]
    four = np.full((h, w, 3), 118, np.uint8)
    cw, ch = w // 2, h // 2
    side4 = int(min(cw, ch) * 0.83)
    boxes_four = [paste(four, c * cw + (cw - side4) // 2, r * ch + (ch - side4) // 2, side4)
                  for r in range(2) for c in range(2)]
    return {"one": one, "four": four, "source": source,
            "boxes_one": np.asarray(boxes_one, np.float32), "boxes_four": np.asarray(boxes_four, np.float32)}


def moving_faces_frames(
    face: np.ndarray,
    n: int = 60,
    size: Tuple[int, int] = (640, 480),
    faces: int = 1,
    face_size: int = 200,
    step: float = 4.0,
    background: int = 40,
) -> List[np.ndarray]:
    """Make ``n`` BGR frames of ``faces`` copies of ``face`` sliding across a plain background.

    Deterministic (no randomness); used by tests and ``measure_fps`` as a stand-in for a camera. Face ``k``
    starts at ``x = 20 + k * (width / faces)`` and moves right by ``step`` pixels a frame (bouncing at the
    edges), at a fixed height per face.

    Args:
        face: the face picture, BGR (or gray) uint8; it is resized to ``face_size`` wide, keeping its aspect.
        n: number of frames.
        size: (width, height) of each frame.
        faces: how many faces (side by side).
        face_size: width of a pasted face in pixels.
        step: horizontal motion per frame in pixels.
        background: gray level of the background.
    """
    width, height = int(size[0]), int(size[1])
    if int(faces) < 1 or int(face_size) < 1:
        raise InvalidInputError(f"faces and face_size must be >= 1, got faces={faces}, face_size={face_size}")
    patch = to_bgr(face, "face")
    scale = face_size / patch.shape[1]
    patch = cv2.resize(patch, (face_size, max(1, int(round(patch.shape[0] * scale)))), interpolation=cv2.INTER_AREA)
    ph, pw = patch.shape[:2]
    if ph > height or pw * faces > width:
        raise InvalidInputError(f"{faces} faces of {pw}x{ph} px do not fit a {width}x{height} frame")
    lane = width / faces
    frames = []
    for i in range(n):
        img = np.full((height, width, 3), background, np.uint8)
        for k in range(faces):
            span = max(1.0, lane - pw - 1)
            travel = (10 + i * step) % (2 * span)
            offset = travel if travel <= span else 2 * span - travel
            x = int(k * lane + offset)
            y = int((height - ph) * (0.3 + 0.4 * (k % 2)))
            img[y : y + ph, x : x + pw] = patch
        frames.append(img)
    return frames


def synthetic_face() -> np.ndarray:
    """The astronaut's head from scikit-image's sample data, BGR (the face ``measure_fps`` pastes)."""
    from .._optional import require

    data = require("skimage.data", "dev", "the synthetic benchmark video")
    import cv2

    rgb = data.astronaut()
    return cv2.cvtColor(np.ascontiguousarray(rgb[10:230, 130:330]), cv2.COLOR_RGB2BGR)
