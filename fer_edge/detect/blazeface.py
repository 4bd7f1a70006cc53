"""MediaPipe BlazeFace (short and full range) on ONNX Runtime: the bundled offline face detector, no torch."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import FerEdgeError, InvalidInputError, ModelFormatError
from ..preprocess import as_bgr_frame
from .anchors import FULL_RANGE_LAYERS, SHORT_RANGE_LAYERS, ssd_anchors
from .base import LANDMARK_NAMES, Detections, FaceDetector
from .letterbox import letterbox
from .session import detector_session

__all__ = ["BlazeFace", "BlazeFaceVariant", "VARIANTS", "ASSETS_DIR"]

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
_LOGIT_CLIP = 100.0  # MediaPipe clips raw scores to +-100 before the sigmoid


@dataclass(frozen=True)
class BlazeFaceVariant:
    """One bundled BlazeFace model: its file, input side and anchor layout."""

    name: str
    filename: str
    input_size: int
    layers: Tuple[Tuple[int, int], ...]

    @property
    def path(self) -> Path:
        return ASSETS_DIR / self.filename


VARIANTS = {
    "short": BlazeFaceVariant("short", "blazeface_short.onnx", 128, SHORT_RANGE_LAYERS),
    "full": BlazeFaceVariant("full", "blazeface_full.onnx", 192, FULL_RANGE_LAYERS),
}


class BlazeFace(FaceDetector):
    """MediaPipe BlazeFace face detector (Apache-2.0 weights bundled in ``fer_edge/assets``).

    The short-range model (128x128 input) finds faces wider than about 1/8 of the frame's longer side (a person
    within ~2 m of the camera); the full-range model (192x192) finds them down to about 1/15 of it, at about three
    times the cost (measured on our test photos, docs/detector.md).

    Args:
        variant: "short" or "full".
        score_threshold: minimum confidence in (0, 1).
        iou_threshold: boxes overlapping a better one by more than this IoU are suppressed (OpenCV NMS).
        min_face: faces whose box's shorter side is below this many frame pixels are dropped (0 keeps all).
        max_faces: keep at most this many faces (best first); None keeps all.
        threads: ONNX Runtime intra-op threads; None lets ONNX Runtime decide.
        providers: ONNX Runtime execution providers; None runs on the CPU.
        blend: replace each kept box (and keypoints) by the score-weighted mean of the candidates it suppressed,
            as MediaPipe does; steadier boxes (mean IoU with hand labels +0.03 on our photos).
        model_path: another ONNX file with the same inputs/outputs (defaults to the bundled one).
    """

    thread_safe = True  # ONNX Runtime sessions run concurrently; detect() keeps no per-call state on self

    def __init__(
        self,
        variant: str = "short",
        *,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
        min_face: float = 0,
        max_faces: Optional[int] = None,
        threads: Optional[int] = None,
        providers: Optional[Sequence[str]] = None,
        blend: bool = True,
        model_path: Optional[str] = None,
    ):
        if variant not in VARIANTS:
            raise InvalidInputError(f"unknown BlazeFace variant {variant!r}; use one of {sorted(VARIANTS)}")
        if not 0.0 < float(score_threshold) < 1.0:
            raise InvalidInputError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 0.0 <= float(iou_threshold) <= 1.0:
            raise InvalidInputError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        if float(min_face) < 0:
            raise InvalidInputError(f"min_face must be >= 0 pixels, got {min_face}")
        if max_faces is not None and int(max_faces) < 1:
            raise InvalidInputError(f"max_faces must be >= 1 or None, got {max_faces}")
        if threads is not None and int(threads) < 1:
            raise InvalidInputError(f"threads must be >= 1 or None, got {threads}")
        self.variant = VARIANTS[variant]
        self.name = "blazeface" if variant == "short" else "blazeface_full"
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.min_face = float(min_face)
        self.max_faces = None if max_faces is None else int(max_faces)
        self.blend = bool(blend)
        path = Path(model_path) if model_path is not None else self.variant.path
        if not path.is_file():
            raise ModelFormatError(
                f"face detector model {path} is missing; reinstall fer-edge, or rebuild it with "
                "`python tools/convert_blazeface.py`"
            )
        self._session = detector_session(path, threads, providers)
        self.providers = self._session.get_providers()
        size = self.variant.input_size
        num_anchors = sum((-(-size // s)) ** 2 * k for s, k in self.variant.layers)
        self._check_io(path, num_anchors)
        self._anchors = ssd_anchors(size, self.variant.layers)
        self._logit_threshold = math.log(self.score_threshold / (1.0 - self.score_threshold))
        self._session.run(None, {self._input_name: np.zeros((1, 3, size, size), np.float32)})  # warm-up

    def _check_io(self, path: Path, num_anchors: int) -> None:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        size = self.variant.input_size
        shapes = [tuple(o.shape) for o in outputs]
        if (
            len(inputs) != 1
            or tuple(inputs[0].shape) != (1, 3, size, size)
            or shapes != [(1, num_anchors, 16), (1, num_anchors, 1)]
        ):
            raise ModelFormatError(
                f"{path.name} is not a BlazeFace {self.variant.name}-range model: input "
                f"{[tuple(i.shape) for i in inputs]}, outputs {shapes}; expected (1, 3, {size}, {size}) -> "
                f"(1, {num_anchors}, 16), (1, {num_anchors}, 1)"
            )
        self._input_name = inputs[0].name
        self._output_names = [o.name for o in outputs]

    def preprocess(self, frame: np.ndarray):
        """Frame → (1, 3, S, S) float32 RGB in [-1, 1] and the letterbox transform."""
        frame = as_bgr_frame(frame)
        canvas, box = letterbox(frame, self.variant.input_size)
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)
        return blob, box

    def detect(self, frame: np.ndarray) -> Detections:
        """Find faces in ``frame`` (BGR uint8; gray and BGRA accepted). Returns them best score first."""
        session = self._session  # one read: close() on another thread cannot pull it away mid-call
        if session is None:
            raise FerEdgeError("this BlazeFace detector was closed; create a new one")
        blob, box = self.preprocess(frame)
        regressors, logits = session.run(self._output_names, {self._input_name: blob})
        with np.errstate(over="ignore", invalid="ignore"):  # garbage outputs: the candidates are dropped below
            return self._decode(regressors, logits, box)

    def _decode(self, regressors: np.ndarray, logits: np.ndarray, box) -> Detections:
        """Raw outputs → frame-pixel detections: anchors, score threshold, non-finite candidates dropped, NMS."""
        logits = logits.reshape(-1)
        with np.errstate(invalid="ignore"):
            keep = np.flatnonzero(logits > self._logit_threshold)  # NaN scores are never kept
        if keep.size == 0:
            return Detections.empty()
        raw = regressors.reshape(-1, 16)[keep]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -_LOGIT_CLIP, _LOGIT_CLIP)))
        # Regressors are input-pixel offsets from the anchor centre (fixed-size anchors).
        size = np.float32(self.variant.input_size)
        centres = self._anchors[keep] * size
        points = raw[:, 4:].reshape(-1, len(LANDMARK_NAMES), 2) + centres[:, None, :]
        corners = np.stack([centres - raw[:, 2:4] * 0.5, centres + raw[:, 2:4] * 0.5], axis=1)
        corners += raw[:, None, 0:2]
        corners = box.to_frame(corners).reshape(-1, 4)
        points = box.to_frame(points)
        widths = corners[:, 2] - corners[:, 0]
        heights = corners[:, 3] - corners[:, 1]
        # A damaged or hostile model can return NaN/inf regressors: such candidates are dropped, never passed on.
        finite = np.isfinite(corners).all(axis=1) & np.isfinite(points).all(axis=(1, 2))
        with np.errstate(invalid="ignore"):
            valid = finite & (widths > 0) & (heights > 0)
        if self.min_face > 0:
            valid &= np.minimum(widths, heights) >= self.min_face
        if not np.all(valid):
            corners, points, scores, widths, heights = (
                corners[valid], points[valid], scores[valid], widths[valid], heights[valid]
            )
            if corners.shape[0] == 0:
                return Detections.empty()
        rects = np.stack([corners[:, 0], corners[:, 1], widths, heights], axis=1).astype(np.float64)
        chosen = np.asarray(
            cv2.dnn.NMSBoxes(rects, scores.astype(np.float64), self.score_threshold, self.iou_threshold), dtype=np.int64
        ).reshape(-1)
        if chosen.size == 0:
            return Detections.empty()
        chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
        if self.max_faces is not None:
            chosen = chosen[: self.max_faces]
        boxes, landmarks = corners[chosen], points[chosen]
        if self.blend and corners.shape[0] > chosen.shape[0]:
            boxes, landmarks = self._blend(corners, points, scores, chosen)
        return Detections(
            np.ascontiguousarray(boxes, dtype=np.float32),
            np.ascontiguousarray(scores[chosen], dtype=np.float32),
            np.ascontiguousarray(landmarks, dtype=np.float32),
        )

    def _blend(self, corners: np.ndarray, points: np.ndarray, scores: np.ndarray, chosen: np.ndarray):
        """Score-weighted mean of each kept box and the candidates it suppressed (MediaPipe's weighted NMS)."""
        kept = corners[chosen]
        lt = np.maximum(kept[:, None, :2], corners[None, :, :2])
        rb = np.minimum(kept[:, None, 2:], corners[None, :, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
        area = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
        iou = inter / (area[chosen][:, None] + area[None, :] - inter)
        owner = np.argmax(iou, axis=0)  # each candidate joins the kept box it overlaps most...
        member = (owner[None, :] == np.arange(chosen.shape[0])[:, None]) & (iou > self.iou_threshold)
        member[np.arange(chosen.shape[0]), chosen] = True  # ...and a kept box always counts itself
        weights = member * scores[None, :]
        weights /= weights.sum(axis=1, keepdims=True)
        boxes = weights @ corners
        landmarks = (weights @ points.reshape(points.shape[0], -1)).reshape(-1, *points.shape[1:])
        return boxes, landmarks

    def close(self) -> None:
        self._session = None

    def __repr__(self) -> str:
        return (
            f"BlazeFace(variant={self.variant.name!r}, score_threshold={self.score_threshold}, "
            f"iou_threshold={self.iou_threshold}, min_face={self.min_face}, max_faces={self.max_faces}, "
            f"blend={self.blend})"
        )
