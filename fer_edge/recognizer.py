"""Recognizer: face detector + reference preprocessing + classifier backend → list of Face."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from .backends import Backend, BackendOptions, backend_from_path
from .backends.flip_tta import FlipTTABackend
from .card import TTAS, ModelCard
from .detect.registry import DEFAULT_DETECTOR
from .errors import InvalidInputError, ModelFormatError
from .face import Face
from .preprocess import as_bgr_frame, preprocess, validate_boxes

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = ASSETS / "ferplus_default.onnx"
STAGES = ("detect", "preprocess", "infer", "postprocess", "total")


def default_model_path() -> Path:
    """The bundled default classifier, or a ModelFormatError saying none ships with this build."""
    if not DEFAULT_MODEL.is_file():
        raise ModelFormatError(
            f"No trained default model is bundled with this build of fer_edge ({DEFAULT_MODEL} is missing). "
            "Pass a model path: Recognizer('model.onnx'), or train one with `fer-edge train` and export it with "
            "`fer-edge export`."
        )
    return DEFAULT_MODEL


def boxes_in_frame(boxes: np.ndarray, frame_shape) -> np.ndarray:
    """Caller boxes clipped to the frame; a box with no pixel inside it is dropped (with a warning), since
    classifying the border padding would invent a face."""
    h, w = int(frame_shape[0]), int(frame_shape[1])
    clipped = np.stack([np.clip(boxes[:, 0], 0, w), np.clip(boxes[:, 1], 0, h),
                        np.clip(boxes[:, 2], 0, w), np.clip(boxes[:, 3], 0, h)], axis=1).astype(np.float32)
    inside = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    if not inside.all():
        log.warning("dropped %d of %d box(es) wholly outside the %dx%d frame: %s", int((~inside).sum()),
                    len(boxes), w, h, boxes[~inside][:3].tolist())
    return clipped[inside]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Recognizer:
    """Finds faces in a frame and classifies their expressions.

    Args:
        model: path to a ``.onnx`` / ``.engine`` classifier, a Backend, or None for the bundled default model.
        detector: a registered name (``fer_edge.detect.detector_names()``; default "yunet", see
            docs/detector.md), a FaceDetector, or None / "none" when every input is already a face crop.
        backend: "auto" (by file suffix), "onnxruntime" or "tensorrt".
        threads: CPU threads for the classifier and the detector (None = library default).
        providers: ONNX Runtime execution providers in order of preference.
        detector_options: keyword arguments for the detector (e.g. ``score_threshold``, ``min_face``).
        options: every backend option at once (device, CUDA layer, engine cache folder...); ``threads`` and
            ``providers`` given here override it.
        tta: test-time augmentation: "flip" (average with the mirrored crop: more accurate, ~1.6x classifier
            time), "none", or None for what the model card says (``card.tta``).
        card: the ModelCard (labels, input size, normalisation) of an ONNX model exported without one; it
            replaces a card stored in the model.

    Example:
        >>> with Recognizer() as rec:
        ...     for face in rec.predict(cv2.imread("photo.jpg")):
        ...         print(face.label, face.confidence, face.box)
    """

    def __init__(
        self,
        model: Union[str, Path, Backend, None] = None,
        *,
        detector: object = DEFAULT_DETECTOR,
        backend: str = "auto",
        threads: Optional[int] = None,
        providers: Optional[Sequence[str]] = None,
        detector_options: Optional[Dict[str, object]] = None,
        options: Optional[BackendOptions] = None,
        tta: Optional[str] = None,
        card: Optional[ModelCard] = None,
    ):
        if isinstance(model, Backend):
            if card is not None:
                raise InvalidInputError("card= applies to a model path; a Backend instance carries its own card")
            self.backend = model
        else:
            path = default_model_path() if model is None else Path(model)
            extra = {} if card is None else {"card": card}
            self.backend = backend_from_path(path, backend=backend, options=options, threads=threads,
                                             providers=providers, **extra)
        self.card: ModelCard = self.backend.card
        self.tta = self.card.tta if tta is None else tta
        if self.tta not in TTAS:
            self.backend.close()
            raise InvalidInputError(f"tta must be one of {TTAS} or None (the card's choice), got {tta!r}")
        if self.tta == "flip":
            self.backend = FlipTTABackend(self.backend)
        from .detect import create_detector, detector_entry

        try:
            if not isinstance(detector, str):
                if detector_options:
                    raise InvalidInputError("detector_options apply only when detector is a name such as 'yunet'")
                self.detector = create_detector(detector)
            else:
                options = dict(detector_options or {})
                if threads is not None and "threads" in detector_entry(detector).options:
                    options.setdefault("threads", threads)
                self.detector = create_detector(detector, **options)
        except BaseException:
            self.backend.close()  # do not leak the classifier session opened above
            raise
        self.timings: Dict[str, float] = dict.fromkeys(STAGES, 0.0)

    # ------------------------------------------------------------------ public
    def predict(self, frame: np.ndarray, boxes: Optional[np.ndarray] = None) -> List[Face]:
        """All faces in ``frame`` (BGR, gray or BGRA uint8), largest first, classified in one batch.

        Args:
            frame: the camera frame.
            boxes: (N, 4) x1, y1, x2, y2 boxes from the caller's own detector; skips detection.
        """
        t0 = time.perf_counter()
        frame = as_bgr_frame(frame)
        scores: Optional[np.ndarray] = None
        landmarks: Optional[np.ndarray] = None
        margin: Optional[float] = None  # detector and caller boxes get the card's crop margin
        if boxes is not None:
            boxes = boxes_in_frame(validate_boxes(boxes), frame.shape)
        elif self.detector is None:
            boxes = np.array([[0, 0, frame.shape[1], frame.shape[0]]], dtype=np.float32)
            margin = 1.0  # the whole frame is the face crop
        else:
            found = self.detector.detect(frame)
            boxes, scores, landmarks = found.boxes, found.scores, found.landmarks
        t1 = time.perf_counter()
        batch = preprocess(frame, boxes, self.card, margin=margin)
        t2 = time.perf_counter()
        outputs = self.backend.infer(batch)
        t3 = time.perf_counter()
        faces = self._faces(boxes, outputs, scores, landmarks)
        t4 = time.perf_counter()
        self._record(t0, t1, t2, t3, t4)
        return faces

    __call__ = predict

    def predict_crops(self, crops: Union[np.ndarray, Sequence[np.ndarray]]) -> List[Face]:
        """Classify face crops (each already a face; no detection). One Face per crop, in input order."""
        if isinstance(crops, np.ndarray) and crops.ndim in (2, 3):
            crops = [crops]
        if crops is None or len(crops) == 0:
            raise InvalidInputError("predict_crops() needs a face crop or a non-empty list of crops")
        t0 = time.perf_counter()
        frames = [as_bgr_frame(c, name=f"crops[{i}]") for i, c in enumerate(crops)]
        batch = np.concatenate([preprocess(f, None, self.card) for f in frames], axis=0)
        t2 = time.perf_counter()
        outputs = self.backend.infer(batch)
        t3 = time.perf_counter()
        boxes = np.array([[0, 0, f.shape[1], f.shape[0]] for f in frames], dtype=np.float32)
        faces = self._faces(boxes, outputs, None, None, order_by_size=False)
        self._record(t0, t0, t2, t3, time.perf_counter())
        return faces

    def predict_batch(self, frames: Sequence[np.ndarray]) -> List[List[Face]]:
        """Faces of several frames; detection per frame, one classifier call for all faces."""
        if frames is None or len(frames) == 0:
            raise InvalidInputError("predict_batch() needs a non-empty sequence of frames")
        t0 = time.perf_counter()
        prepared, found = [], []
        for i, f in enumerate(frames):
            f = as_bgr_frame(f, name=f"frames[{i}]")
            prepared.append(f)
            if self.detector is None:
                found.append((np.array([[0, 0, f.shape[1], f.shape[0]]], np.float32), None, None))
            else:
                d = self.detector.detect(f)
                found.append((d.boxes, d.scores, d.landmarks))
        t1 = time.perf_counter()
        margin = 1.0 if self.detector is None else None
        batch = np.concatenate(
            [preprocess(f, b, self.card, margin=margin) for f, (b, _, _) in zip(prepared, found)], axis=0
        )
        t2 = time.perf_counter()
        outputs = self.backend.infer(batch)
        t3 = time.perf_counter()
        results, start = [], 0
        for boxes, scores, landmarks in found:
            n = boxes.shape[0]
            results.append(self._faces(boxes, outputs[start : start + n], scores, landmarks))
            start += n
        self._record(t0, t1, t2, t3, time.perf_counter())
        return results

    def warmup(self, frame_shape: Sequence[int] = (480, 640, 3)) -> None:
        """Run detector, preprocessing and classifier once on a blank frame of ``frame_shape``, untimed.

        The first real call otherwise pays one-time costs (session and OpenCV initialisation, memory arenas
        sized to the frame) that are not the per-frame cost; call this before timing anything.
        """
        shape = tuple(int(v) for v in frame_shape)
        frame = np.zeros(shape if len(shape) == 3 else shape + (3,), np.uint8)
        if self.detector is not None:
            self.detector.detect(frame)
        side = max(1, min(frame.shape[0], frame.shape[1], 64))
        self.backend.infer(preprocess(frame, np.array([[0, 0, side, side]], np.float32), self.card))
        self.timings = dict.fromkeys(STAGES, 0.0)

    def stream(self, source, **kw):
        """Per-frame results from a video file, camera, URL, GStreamer pipeline or iterable of frames.

        See ``fer_edge.pipeline.stream`` for the options (tracking, smoothing, detection interval).
        """
        from .pipeline import stream

        return stream(source, recognizer=self, **kw)

    def close(self) -> None:
        """Release the backend and detector sessions (idempotent).

        This also closes a Backend or FaceDetector instance the caller passed in: the Recognizer owns them.
        """
        if self.backend is not None:
            self.backend.close()
        if self.detector is not None and hasattr(self.detector, "close"):
            self.detector.close()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        det = type(self.detector).__name__ if self.detector is not None else None
        return (f"Recognizer(model={self.card.name!r}, labels={len(self.card.labels)}, "
                f"backend={self.backend.name!r}, precision={self.backend.precision!r}, detector={det})")

    # ----------------------------------------------------------------- helpers
    def _faces(self, boxes, outputs, scores, landmarks, order_by_size: bool = True) -> List[Face]:
        probs = softmax(outputs) if self.card.output == "logits" else outputs
        labels = self.card.labels
        faces = []
        for i in range(boxes.shape[0]):
            k = int(np.argmax(probs[i]))
            faces.append(Face(
                box=tuple(float(v) for v in boxes[i]),
                score=1.0 if scores is None else float(scores[i]),
                label=labels[k],
                confidence=float(probs[i, k]),
                probs={name: float(p) for name, p in zip(labels, probs[i])},
                landmarks=() if landmarks is None else tuple((float(x), float(y)) for x, y in landmarks[i]),
            ))
        if order_by_size:
            faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def _record(self, t0: float, t1: float, t2: float, t3: float, t4: float) -> None:
        ms = 1e3
        self.timings = {
            "detect": (t1 - t0) * ms,
            "preprocess": (t2 - t1) * ms,
            "infer": (t3 - t2) * ms,
            "postprocess": (t4 - t3) * ms,
            "total": (t4 - t0) * ms,
        }
