"""Recognizer: face detector + preprocessing (CPU or CUDA kernel) + classifier backend → list of Face."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .backends import Backend, BackendOptions, backend_from_path
from .backends.flip_tta import FlipTTABackend
from .card import TTAS, ModelCard
from .detect.registry import DEFAULT_DETECTOR
from .errors import FerEdgeError, InvalidInputError, ModelFormatError
from .face import Face
from .preprocess import as_bgr_frame, validate_boxes
from .preprocess.preprocessors import create_preprocessor, device_input_supported

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = ASSETS / "ferplus_default.onnx"
STAGES = ("detect", "preprocess", "infer", "postprocess", "total")
MAX_ROWS_PER_CALL = 256  # faces per classifier call: bounds memory for any number of boxes (50,000 → 196 calls)


def _concat(parts: List[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _image_list(images: object, call: str, what: str, single_ndim: Tuple[int, ...]) -> List[np.ndarray]:
    """``images`` as a non-empty list: a list/tuple as is, an array stack split along its first axis, and (for
    crops) a single 2-D/3-D array as one item. Anything else is an InvalidInputError, not a raw TypeError."""
    if isinstance(images, np.ndarray):
        one_image = images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4))
        if images.ndim in single_ndim and one_image:
            return [images]
        if images.ndim in (3, 4) and images.shape[0] > 0:
            return list(images)
        raise InvalidInputError(f"{call} needs {what} as a list of uint8 images or an (N, H, W[, C]) stack, "
                                f"got an array shaped {images.shape}")
    if isinstance(images, (list, tuple)):
        if not images:
            raise InvalidInputError(f"{call} needs a non-empty list of {what}")
        return list(images)
    raise InvalidInputError(
        f"{call} needs {what} as a list or tuple of uint8 numpy images, got {type(images).__name__}; "
        f"wrap an iterator in list(...)"
    )


def _chunks(items, limit: int):
    """(items, rows) chunks of at most ``limit`` rows, filled in order; a frame's boxes may span two chunks."""
    chunk: List[Tuple[np.ndarray, np.ndarray, Optional[float]]] = []
    rows = 0
    for frame, boxes, margin in items:
        start = 0
        while start < boxes.shape[0]:
            take = min(limit - rows, boxes.shape[0] - start)
            chunk.append((frame, boxes[start : start + take], margin))
            rows += take
            start += take
            if rows == limit:
                yield chunk, rows
                chunk, rows = [], 0
    if rows:
        yield chunk, rows


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


def class_probabilities(outputs: np.ndarray, output: str, temperature: float = 1.0) -> np.ndarray:
    """(N, K) probabilities from a classifier's outputs; ``output`` is its card's "logits" or "probs".

    ``temperature`` softens them (distillation): softmax(logits / T); probabilities are never softmaxed again —
    their logs stand in for logits, softmax(log p / T) ∝ p^(1/T).
    """
    if output == "logits":
        return softmax(outputs / temperature if temperature != 1.0 else outputs)
    if temperature == 1.0:
        return outputs
    return softmax(np.log(np.clip(outputs, 1e-12, None)) / temperature)


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
        tta: test-time augmentation: "flip" (average with the mirrored crop: more accurate, ~1.9x classifier
            time), "none", or None for what the model card says (``card.tta``; the bundled model's says "flip").
        card: the ModelCard (labels, input size, normalisation) of an ONNX model exported without one; it
            replaces a card stored in the model.
        preprocess: "cpu" (OpenCV), "cuda" (the cpp_ext kernel; raises if it cannot run here) or "auto": the
            kernel when the backend takes device input (TensorRT) and the kernel can run, else the CPU path.
            With TensorRT the kernel writes the engine's input buffer directly: uint8 frame up, logits down.
            A preprocessor object (``fer_edge.preprocess.cuda.CudaPreprocessor(...)``) is used as given.

    Thread safety: one Recognizer may be shared by threads. ``predict``, ``predict_crops`` and ``predict_batch``
    may run concurrently (ONNX Runtime and BlazeFace run in parallel; a backend or detector not marked
    ``thread_safe`` is called one thread at a time); ``close()`` waits for running calls, and calls after it
    raise ``FerEdgeError``. ``timings`` describes the last call that finished, on whichever thread.

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
        preprocess: object = "auto",
    ):
        device = options.device if options is not None else 0
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
            self.preprocessor = create_preprocessor(preprocess, self.backend, device=device)
        except BaseException:
            self.backend.close()  # do not leak the classifier session opened above
            if getattr(self, "detector", None) is not None and hasattr(self.detector, "close"):
                self.detector.close()
            raise
        # The batch never leaves the GPU when the kernel can write the backend's own input buffer.
        self._device_path = self.preprocessor.writes_device and device_input_supported(self.backend)
        self.timings: Dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._state = threading.Condition()
        self._active = 0  # public calls running now (any thread)
        self._closed = False
        self._backend_lock = threading.Lock()
        self._detector_lock = threading.Lock()

    # ------------------------------------------------------------------ public
    def predict(self, frame: np.ndarray, boxes: Optional[np.ndarray] = None) -> List[Face]:
        """All faces in ``frame`` (BGR, gray or BGRA uint8), largest first.

        Args:
            frame: the camera frame.
            boxes: (N, 4) x1, y1, x2, y2 boxes from the caller's own detector; skips detection. Any number of
                boxes is classified in chunks of ``MAX_ROWS_PER_CALL``, so memory stays bounded.
        """
        with self._in_use():
            t0 = time.perf_counter()
            frame = as_bgr_frame(frame)  # contiguous BGR/gray: converted once per frame, not once per face
            scores: Optional[np.ndarray] = None
            landmarks: Optional[np.ndarray] = None
            margin: Optional[float] = None  # detector and caller boxes get the card's crop margin
            if boxes is not None:
                boxes = boxes_in_frame(validate_boxes(boxes), frame.shape)
            elif self.detector is None:
                boxes = np.array([[0, 0, frame.shape[1], frame.shape[0]]], dtype=np.float32)
                margin = 1.0  # the whole frame is the face crop
            else:
                found = self._detect(frame)
                boxes, scores, landmarks = found.boxes, found.scores, found.landmarks
            t1 = time.perf_counter()
            outputs, pre_s = self._classify([(frame, boxes, margin)])
            t3 = time.perf_counter()
            faces = self._faces(boxes, outputs, scores, landmarks)
            self._record(t0, t1, t1 + pre_s, t3, time.perf_counter())
            return faces

    __call__ = predict

    def predict_crops(self, crops: Union[np.ndarray, Sequence[np.ndarray]]) -> List[Face]:
        """Classify face crops (each already a face; no detection). One Face per crop, in input order.

        Args:
            crops: one crop (HxW or HxWxC uint8), a list/tuple of crops, or an (N, H, W[, C]) stack.
        """
        crops = _image_list(crops, "predict_crops()", "crops", single_ndim=(2, 3))
        with self._in_use():
            t0 = time.perf_counter()
            frames = [as_bgr_frame(c, name=f"crops[{i}]") for i, c in enumerate(crops)]
            boxes = np.array([[0, 0, f.shape[1], f.shape[0]] for f in frames], dtype=np.float32)
            outputs, pre_s = self._classify([(f, boxes[i : i + 1], 1.0) for i, f in enumerate(frames)])
            t3 = time.perf_counter()
            faces = self._faces(boxes, outputs, None, None, order_by_size=False)
            self._record(t0, t0, t0 + pre_s, t3, time.perf_counter())
            return faces

    def predict_batch(self, frames: Sequence[np.ndarray]) -> List[List[Face]]:
        """Faces of several frames; detection per frame, then the faces classified together (in bounded chunks).

        Args:
            frames: a list/tuple of frames or an (N, H, W[, C]) stack.
        """
        frames = _image_list(frames, "predict_batch()", "frames", single_ndim=())
        with self._in_use():
            t0 = time.perf_counter()
            prepared, found = [], []
            for i, f in enumerate(frames):
                f = as_bgr_frame(f, name=f"frames[{i}]")
                prepared.append(f)
                if self.detector is None:
                    found.append((np.array([[0, 0, f.shape[1], f.shape[0]]], np.float32), None, None))
                else:
                    d = self._detect(f)
                    found.append((d.boxes, d.scores, d.landmarks))
            t1 = time.perf_counter()
            margin = 1.0 if self.detector is None else None
            outputs, pre_s = self._classify([(f, b, margin) for f, (b, _, _) in zip(prepared, found)])
            t3 = time.perf_counter()
            results, start = [], 0
            for boxes, scores, landmarks in found:
                n = boxes.shape[0]
                results.append(self._faces(boxes, outputs[start : start + n], scores, landmarks))
                start += n
            self._record(t0, t1, t1 + pre_s, t3, time.perf_counter())
            return results

    def warmup(self, frame_shape: Sequence[int] = (480, 640, 3)) -> None:
        """Run detector, preprocessing and classifier once on a blank frame of ``frame_shape``, untimed.

        The first real call otherwise pays one-time costs (session and OpenCV initialisation, memory arenas
        sized to the frame) that are not the per-frame cost; call this before timing anything.
        """
        shape = tuple(int(v) for v in frame_shape)
        frame = np.zeros(shape if len(shape) == 3 else shape + (3,), np.uint8)
        with self._in_use():  # same rules as predict: close() waits, a non-thread-safe detector is serialised
            if self.detector is not None:
                self._detect(frame)
            side = max(1, min(frame.shape[0], frame.shape[1], 64))
            self._classify([(frame, np.array([[0, 0, side, side]], np.float32), None)])
        self.timings = dict.fromkeys(STAGES, 0.0)

    def stream(self, source, **kw):
        """Per-frame results from a video file, camera, URL, GStreamer pipeline or iterable of frames.

        See ``fer_edge.pipeline.stream`` for the options (tracking, smoothing, detection interval).
        """
        from .pipeline import stream

        return stream(source, recognizer=self, **kw)

    def close(self) -> None:
        """Release the backend and detector sessions (idempotent, thread-safe).

        Calls already running on other threads finish first (close waits for them); calls made after close
        raise ``FerEdgeError``. This also closes a Backend or FaceDetector instance the caller passed in: the
        Recognizer owns them.
        """
        with self._state:
            if self._closed:
                return
            self._closed = True
            while self._active:
                self._state.wait()
        self.preprocessor.close()  # its device buffers may live on the backend's CUDA layer: free them first
        if self.backend is not None:
            self.backend.close()
        if self.detector is not None and hasattr(self.detector, "close"):
            self.detector.close()

    @contextlib.contextmanager
    def _in_use(self) -> Iterator[None]:
        """Count a public call as running so that close() waits for it instead of pulling sessions away."""
        with self._state:
            if self._closed:
                raise FerEdgeError("this Recognizer was closed; create a new one")
            self._active += 1
        try:
            yield
        finally:
            with self._state:
                self._active -= 1
                if not self._active:
                    self._state.notify_all()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        det = type(self.detector).__name__ if self.detector is not None else None
        return (f"Recognizer(model={self.card.name!r}, labels={len(self.card.labels)}, "
                f"backend={self.backend.name!r}, precision={self.backend.precision!r}, detector={det}, "
                f"preprocess={self.preprocessor.name!r})")

    # ----------------------------------------------------------------- helpers
    def _faces(self, boxes, outputs, scores, landmarks, order_by_size: bool = True) -> List[Face]:
        probs = class_probabilities(outputs, self.card.output)
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

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        if getattr(self.backend, "thread_safe", False):
            return self.backend.infer(batch)
        with self._backend_lock:  # e.g. one TensorRT execution context: one call at a time
            return self.backend.infer(batch)

    def _detect(self, frame: np.ndarray):
        if getattr(self.detector, "thread_safe", False):
            return self.detector.detect(frame)
        with self._detector_lock:
            return self.detector.detect(frame)

    def _classify(self, items: List[Tuple[np.ndarray, np.ndarray, Optional[float]]]) -> Tuple[np.ndarray, float]:
        """Preprocess and classify the boxes of (frame, boxes, margin) items, at most ``MAX_ROWS_PER_CALL`` rows
        per classifier call (memory stays bounded for any number of boxes).

        On the device path (CUDA preprocessor + a backend that takes device input) each chunk is written by the
        kernel into ``backend.device_input(n)`` on ``backend.stream`` and run by ``backend.infer_device(n)`` on
        the same stream: the batch never leaves the GPU. Otherwise the preprocessor returns a host batch (the
        CUDA one copies its result back once per chunk) for ``backend.infer``.

        Returns:
            ((total boxes, classes) outputs in item and box order, seconds spent preprocessing; on the device
            path that is the time to queue the uploads and launches).
        """
        backend = self.backend
        limit = MAX_ROWS_PER_CALL
        if self._device_path:
            limit = min(limit, backend.static_batch or backend.max_batch or limit)
        outputs: List[np.ndarray] = []
        pre_s = 0.0
        for chunk, n in _chunks(items, limit):
            if not self._device_path:
                t = time.perf_counter()
                batch = self.preprocessor(chunk, self.card)
                pre_s += time.perf_counter() - t
                outputs.append(self._infer(batch))
                continue
            run = backend.static_batch or n  # a static engine always runs its full batch; extra rows are ignored
            with self._backend_lock:  # the engine's input buffer is shared: write and run as one step
                view = backend.device_input(run)
                t = time.perf_counter()
                written = self.preprocessor.write(chunk, self.card, view.ptr, view.dtype, backend.stream)
                pre_s += time.perf_counter() - t
                if written != n:
                    raise FerEdgeError(f"the CUDA preprocessor wrote {written} rows, expected {n}")
                outputs.append(backend.check_outputs(backend.infer_device(run)[:n], n))
        if not outputs:
            return np.zeros((0, self.card.num_classes), np.float32), pre_s
        return _concat(outputs), pre_s

    def _record(self, t0: float, t1: float, t2: float, t3: float, t4: float) -> None:
        ms = 1e3
        self.timings = {
            "detect": (t1 - t0) * ms,
            "preprocess": (t2 - t1) * ms,
            "infer": (t3 - t2) * ms,
            "postprocess": (t4 - t3) * ms,
            "total": (t4 - t0) * ms,
        }
