"""YuNet (OpenCV Zoo, MIT) on ONNX Runtime with our own decoding: a 230 kB detector for near and far faces."""

from __future__ import annotations

import logging
import numbers
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..errors import FerEdgeError, InvalidInputError, ModelFormatError
from ..preprocess import as_bgr_frame
from .base import Detections, FaceDetector
from .session import detector_session

__all__ = ["YuNet", "YUNET_LANDMARK_NAMES", "YUNET_PATH", "STRIDES", "decode_yunet", "reference_boxes",
           "yunet_input_shape"]

log = logging.getLogger(__name__)

YUNET_PATH = Path(__file__).resolve().parents[1] / "assets" / "yunet.onnx"
#: YuNet's 5 keypoints; right/left are the person's own (the right eye is on the viewer's left).
YUNET_LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")
#: The three output levels: one anchor point per grid cell of side ``stride`` input pixels.
STRIDES = (8, 16, 32)
_ALIGN = 32  # the coarsest stride: the network input must be a multiple of it
#: YuNet's box (hairline to chin) → the face-box convention the classifier's crop_margin was calibrated on
#: (BlazeFace's brow-to-chin box, docs/model_card.md "Crop margin"). Medians over 988 FER+ val faces both found:
#: YuNet width = 0.907, height = 1.185 BlazeFace widths, centre 0.078 widths higher (docs/detector.md).
_REF_WIDTH, _REF_HEIGHT, _REF_SHIFT_DOWN = 1 / 0.907, 1 / 1.185, 0.078


def reference_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) YuNet boxes → boxes in fer_edge's face-box convention (BlazeFace's brow-to-chin geometry)."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) * 0.5, (boxes[:, 1] + boxes[:, 3]) * 0.5
    w = (boxes[:, 2] - boxes[:, 0]) * _REF_WIDTH
    h = (boxes[:, 3] - boxes[:, 1]) * _REF_HEIGHT
    cy = cy + _REF_SHIFT_DOWN * w
    return np.stack([cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5], axis=1).astype(np.float32)


def yunet_input_shape(height: int, width: int, input_size: int) -> Tuple[int, int, int, int]:
    """(resized_h, resized_w, padded_h, padded_w) for a frame whose longer side becomes ``input_size`` pixels.

    Aspect is kept; the resized frame sits at the top-left of a zero canvas padded up to a multiple of 32.
    """
    scale = input_size / max(height, width)
    rh = max(1, int(round(height * scale)))
    rw = max(1, int(round(width * scale)))
    return rh, rw, -(-rh // _ALIGN) * _ALIGN, -(-rw // _ALIGN) * _ALIGN


def _grid(rows: int, cols: int) -> np.ndarray:
    """(rows*cols, 2) float32 (col, row) of every cell, row-major (the network's anchor order)."""
    ys, xs = np.mgrid[0:rows, 0:cols]
    return np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1).astype(np.float32)


def decode_yunet(
    outputs: Dict[str, np.ndarray], padded_hw: Tuple[int, int], score_threshold: float,
    grids: Optional[Dict[Tuple[int, int, int], np.ndarray]] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw YuNet outputs → candidate (boxes x1y1x2y2, scores, landmarks (N, 5, 2)) in network-input pixels.

    Per level s: score = sqrt(clip(cls) * clip(obj)); centre = (cell + bbox[:2]) * s; size = exp(bbox[2:]) * s;
    keypoint k = (cell + kps[2k:2k+2]) * s. Only candidates with score >= ``score_threshold`` are returned.
    ``grids`` caches the cell coordinates between calls (keyed by stride and grid shape).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # garbage outputs overflow exp(); _select drops them
        return _decode_yunet(outputs, padded_hw, score_threshold, grids)


def _decode_yunet(outputs, padded_hw, score_threshold, grids):
    ph, pw = padded_hw
    boxes, scores, points = [], [], []
    for s in STRIDES:
        rows, cols = ph // s, pw // s
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0.0, 1.0)
        if cls.shape[0] != rows * cols or obj.shape[0] != rows * cols:
            raise ModelFormatError(
                f"YuNet output cls_{s}/obj_{s} has {cls.shape[0]}/{obj.shape[0]} anchors; expected {rows}x{cols} "
                f"for a {ph}x{pw} input"
            )
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        if keep.size == 0:
            continue
        key = (s, rows, cols)
        cells = grids.get(key) if grids is not None else None
        if cells is None:
            cells = _grid(rows, cols)
            if grids is not None:
                grids[key] = cells
        cell = cells[keep]
        bbox = outputs[f"bbox_{s}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{s}"].reshape(-1, 5, 2)[keep]
        centre = (cell + bbox[:, :2]) * s
        half = np.exp(bbox[:, 2:]) * (s * 0.5)
        boxes.append(np.concatenate([centre - half, centre + half], axis=1))
        scores.append(score[keep])
        points.append((cell[:, None, :] + kps) * s)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
    return (np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32),
            np.concatenate(points).astype(np.float32))


class YuNet(FaceDetector):
    """YuNet face detector (Shiqi Yu's libfacedetection, MIT; trained on WIDER FACE) bundled in ``fer_edge/assets``.

    For each size in ``input_size`` the frame is resized (aspect kept) so its longer side is that many pixels,
    padded to a multiple of 32 and run; candidates of all passes go through one NMS. YuNet sees faces of about
    10-300 input pixels: at 320 on a 640x480 frame that is faces from about 40 px up to the whole frame; a
    second, larger pass (e.g. ``(640, 160)``) finds far faces down to about 20 px at four times the cost
    (measured: docs/detector.md). Boxes scoring below ``verify_below`` are kept only if BlazeFace full range
    confirms them on a crop (``fer_edge.detect.verify``): YuNet also fires on frontal animal faces.

    Args:
        score_threshold: minimum confidence in [0, 1] (score = sqrt(cls * obj)).
        iou_threshold: boxes overlapping a better one by more than this IoU are suppressed (OpenCV NMS).
        min_face: faces whose box's shorter side is below this many frame pixels are dropped (0 keeps all).
        max_faces: keep at most this many faces (best first); None keeps all.
        input_size: longer side of the network input in pixels (>= 32), or several sizes for several passes.
            Larger finds smaller faces, costs more, and misses faces wider than about 300 input pixels.
        verify_below: boxes scoring below this are checked by BlazeFace full range (0 = never check).
        verify_threshold: BlazeFace score in [0, 1] a checked box needs to stay.
        verify_min_fraction: only boxes at least this fraction of the frame's longer side are checked: YuNet is
            sure of real faces that big (>= 0.9 on our photos), while small real faces often score 0.8-0.9 and
            checking them would cost ~4 ms each.
        raw_boxes: return YuNet's own boxes (hairline to chin) instead of boxes in the brow-to-chin convention
            the classifier's crop margin was calibrated on (``reference_boxes``; 2.4 points of FER+ accuracy).
        threads: ONNX Runtime intra-op threads; None lets ONNX Runtime decide.
        providers: ONNX Runtime execution providers; None runs on the CPU.
        model_path: another ONNX file with YuNet's inputs/outputs (defaults to the bundled one).
    """

    name = "yunet"

    def __init__(
        self,
        *,
        score_threshold: float = 0.8,
        iou_threshold: float = 0.3,
        min_face: float = 0,
        max_faces: Optional[int] = None,
        input_size: Union[int, Sequence[int]] = 320,
        verify_below: float = 0.9,
        verify_threshold: float = 0.3,
        verify_min_fraction: float = 0.1,
        raw_boxes: bool = False,
        threads: Optional[int] = None,
        providers: Optional[Sequence[str]] = None,
        model_path: Optional[str] = None,
    ):
        for label, value in (("score_threshold", score_threshold), ("iou_threshold", iou_threshold),
                             ("verify_below", verify_below), ("verify_threshold", verify_threshold),
                             ("verify_min_fraction", verify_min_fraction)):
            if not 0.0 <= float(value) <= 1.0:
                raise InvalidInputError(f"{label} must be in [0, 1], got {value}")
        if float(min_face) < 0:
            raise InvalidInputError(f"min_face must be >= 0 pixels, got {min_face}")
        if max_faces is not None and int(max_faces) < 1:
            raise InvalidInputError(f"max_faces must be >= 1 or None, got {max_faces}")
        sizes = (input_size,) if not isinstance(input_size, (list, tuple)) else tuple(input_size)
        if not sizes or any(not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < _ALIGN for v in sizes):
            raise InvalidInputError(f"input_size must be an integer >= {_ALIGN} pixels (longer side of the network "
                                    f"input) or a list of them, got {input_size!r}")
        if threads is not None and int(threads) < 1:
            raise InvalidInputError(f"threads must be >= 1 or None, got {threads}")
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.min_face = float(min_face)
        self.max_faces = None if max_faces is None else int(max_faces)
        self.input_sizes = tuple(int(v) for v in sizes)
        self.verify_below = float(verify_below)
        self.verify_min_fraction = float(verify_min_fraction)
        self.raw_boxes = bool(raw_boxes)
        path = Path(model_path) if model_path is not None else YUNET_PATH
        if not path.is_file():
            raise ModelFormatError(f"face detector model {path} is missing; reinstall fer-edge")
        self._session = detector_session(path, threads, providers)
        self.providers = self._session.get_providers()
        self._check_io(path)
        self._grids: Dict[Tuple[int, int, int], np.ndarray] = {}
        self._session.run(None, {self._input_name: np.zeros((1, 3, 224, 320), np.float32)})  # warm-up
        self._verifier = None
        if self.verify_below > self.score_threshold:
            from .verify import CropVerifier

            self._verifier = CropVerifier(float(verify_threshold), threads=threads, providers=providers)

    @property
    def input_size(self) -> Union[int, Tuple[int, ...]]:
        return self.input_sizes[0] if len(self.input_sizes) == 1 else self.input_sizes

    def _check_io(self, path: Path) -> None:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        expected = {f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES}
        names = {o.name for o in outputs}
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or names != expected:
            raise ModelFormatError(
                f"{path.name} is not a YuNet model: inputs {[tuple(i.shape) for i in inputs]}, outputs "
                f"{sorted(names)}; expected one NCHW input and outputs {sorted(expected)}"
            )
        self._input_name = inputs[0].name
        self._output_names = [o.name for o in outputs]

    @staticmethod
    def as_bgr(frame: np.ndarray) -> np.ndarray:
        """Validated HxWx3 BGR uint8 (gray is replicated, BGRA loses alpha)."""
        frame = as_bgr_frame(frame)
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame

    def preprocess(self, frame: np.ndarray, input_size: Optional[int] = None) -> Tuple[np.ndarray, float, float]:
        """BGR frame → (1, 3, Hp, Wp) float32 BGR 0..255 blob, and the x and y scales from frame to input pixels."""
        h, w = frame.shape[:2]
        rh, rw, ph, pw = yunet_input_shape(h, w, input_size or self.input_sizes[0])
        resized = frame if (rh, rw) == (h, w) else cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_LINEAR)
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :rh, :rw] = resized.transpose(2, 0, 1)
        return blob, rw / w, rh / h

    def candidates(self, frame: np.ndarray, input_size: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pass: (boxes, scores, landmarks) above ``score_threshold`` in frame pixels, before NMS."""
        blob, sx, sy = self.preprocess(frame, input_size)
        raw = self._session.run(self._output_names, {self._input_name: blob})
        boxes, scores, points = decode_yunet(dict(zip(self._output_names, raw)), blob.shape[2:],
                                             self.score_threshold, self._grids)
        scale = np.array([sx, sy], np.float32)
        return (boxes.reshape(-1, 2, 2) / scale).reshape(-1, 4), scores, points / scale

    def detect(self, frame: np.ndarray) -> Detections:
        """Find faces in ``frame`` (BGR uint8; gray and BGRA accepted). Returns them best score first."""
        if self._session is None:
            raise FerEdgeError("this YuNet detector was closed; create a new one")
        frame = self.as_bgr(frame)
        passes = [self.candidates(frame, size) for size in self.input_sizes]
        boxes, scores, points = (np.concatenate(parts) for parts in zip(*passes))
        found = self._select(boxes, scores, points)
        if self._verifier is not None and len(found):
            sides = np.maximum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
            big = sides >= self.verify_min_fraction * max(frame.shape[:2])
            keep = (found.scores >= self.verify_below) | ~big
            doubtful = np.flatnonzero(~keep)
            keep[doubtful] = self._verifier.confirm(frame, found.boxes[doubtful])
            found = Detections(found.boxes[keep], found.scores[keep], found.landmarks[keep], YUNET_LANDMARK_NAMES)
        n = len(found) if self.max_faces is None else min(self.max_faces, len(found))
        boxes = found.boxes[:n] if self.raw_boxes else reference_boxes(found.boxes[:n])
        with np.errstate(invalid="ignore"):  # a sliver box can round to zero size in float32: drop it
            ok = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if not np.all(ok):
            return Detections(boxes[ok], found.scores[:n][ok], found.landmarks[:n][ok], YUNET_LANDMARK_NAMES)
        return Detections(boxes, found.scores[:n], found.landmarks[:n], YUNET_LANDMARK_NAMES)

    def _select(self, boxes, scores, points) -> Detections:
        """Frame-pixel candidates → ``min_face`` filter, NMS; best score first."""
        empty = Detections.empty(YUNET_LANDMARK_NAMES)
        if scores.shape[0] == 0:
            return empty
        with np.errstate(invalid="ignore"):
            widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        # A damaged or hostile model can return NaN/inf outputs: such candidates are dropped, never passed on.
        finite = np.isfinite(boxes).all(axis=1) & np.isfinite(points).all(axis=(1, 2)) & np.isfinite(scores)
        with np.errstate(invalid="ignore"):
            valid = finite & (widths > 0) & (heights > 0)
        if self.min_face > 0:  # on the boxes the caller gets (mapped unless raw_boxes)
            shown = boxes if self.raw_boxes else reference_boxes(boxes)
            valid &= np.minimum(shown[:, 2] - shown[:, 0], shown[:, 3] - shown[:, 1]) >= self.min_face
        if not np.all(valid):
            boxes, scores, points, widths, heights = (
                boxes[valid], scores[valid], points[valid], widths[valid], heights[valid]
            )
            if scores.shape[0] == 0:
                return empty
        rects = np.stack([boxes[:, 0], boxes[:, 1], widths, heights], axis=1).astype(np.float64)
        chosen = np.asarray(
            cv2.dnn.NMSBoxes(rects, scores.astype(np.float64), self.score_threshold, self.iou_threshold), np.int64
        ).reshape(-1)
        if chosen.size == 0:
            return empty
        chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
        return Detections(
            np.ascontiguousarray(boxes[chosen], dtype=np.float32),
            np.ascontiguousarray(scores[chosen], dtype=np.float32),
            np.ascontiguousarray(points[chosen], dtype=np.float32),
            YUNET_LANDMARK_NAMES,
        )

    def close(self) -> None:
        self._session = None
        if self._verifier is not None:
            self._verifier.close()

    def __repr__(self) -> str:
        return (
            f"YuNet(score_threshold={self.score_threshold}, iou_threshold={self.iou_threshold}, "
            f"min_face={self.min_face}, max_faces={self.max_faces}, input_size={self.input_size}, "
            f"verify_below={self.verify_below})"
        )
