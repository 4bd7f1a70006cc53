"""The frame loop: source → (detect every N frames, track in between) → classify → smooth → per-frame results.

``stream()`` is what ``fer_edge.stream`` and ``Recognizer.stream`` run. The end-to-end FPS measurement of this
loop lives with the benchmark (``fer_edge.bench.measure_fps``; ``fer_edge.pipeline.measure_fps`` still works).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .detect.registry import DEFAULT_DETECTOR
from .errors import InvalidInputError
from .face import Face
from .tracking import Tracker, TrackerConfig
from .video import Frame, FrameSource, SourceLike, open_source

log = logging.getLogger(__name__)

__all__ = ["FrameResult", "Stream", "stream"]

TIMING_KEYS = ("read", "detect", "preprocess", "infer", "postprocess", "track", "total")


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline found in one frame.

    Attributes:
        index: the frame's position in the source (gaps = skipped or dropped frames).
        timestamp: seconds since the start of the source.
        faces: faces in the frame, largest first; ``track_id`` set and expressions smoothed when tracking.
        timings: milliseconds per stage for this frame: read (waiting for the frame), detect, preprocess,
            infer, postprocess, track, total (everything after the frame arrived).
        detected: True when the face detector ran on this frame (False: boxes came from the tracker).
        image: the BGR frame itself (for drawing / writing).
    """

    index: int
    timestamp: float
    faces: Tuple[Face, ...]
    timings: Dict[str, float]
    detected: bool = True
    image: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (without the image)."""
        return {
            "frame": self.index,
            "timestamp": round(self.timestamp, 4),
            "detected": self.detected,
            "faces": [f.as_dict() for f in self.faces],
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _clip_boxes(boxes: np.ndarray, width: int, height: int, keep: float = 0.3) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the frame; return them and a mask of those keeping at least ``keep`` of their area."""
    if boxes.size == 0:
        return boxes.reshape(0, 4), np.zeros((0,), bool)
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, height)
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    inside = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(clipped[:, 3] - clipped[:, 1], 0, None)
    ok = (area > 0) & (inside >= keep * np.maximum(area, 1e-9)) & (inside >= 4.0)
    return clipped, ok


class Stream:
    """Iterator of :class:`FrameResult` over a source; made by :func:`stream`.

    After iteration, ``stop_reason`` ('end', 'stalled', 'closed', 'error') and ``message`` say why it
    stopped and ``stats()`` gives frames, FPS and mean stage times. Close it (or use ``with``) to release
    the camera and, when the stream created it, the Recognizer.
    """

    def __init__(
        self,
        source: FrameSource,
        recognizer: Any,
        *,
        own_recognizer: bool,
        detect_every: int,
        tracker: Optional[Tracker],
    ):
        self.source = source
        self.recognizer = recognizer
        self.detect_every = detect_every
        self.tracker = tracker
        self._own = own_recognizer
        self._gen = self._run()
        self._closed = False
        self.frames = 0
        self.detections = 0
        self._started: Optional[float] = None
        self._elapsed = 0.0
        self._stage_sums: Dict[str, float] = dict.fromkeys(TIMING_KEYS, 0.0)

    # ----------------------------------------------------------------- iteration
    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> FrameResult:
        return next(self._gen)

    @property
    def stop_reason(self) -> Optional[str]:
        return self.source.stop_reason

    @property
    def message(self) -> str:
        return self.source.message

    def stats(self) -> Dict[str, Any]:
        """Frames processed, detector runs, wall-clock FPS, dropped frames and mean ms per stage."""
        n = max(1, self.frames)
        return {
            "frames": self.frames,
            "detections": self.detections,
            "dropped": self.source.dropped,
            "elapsed_s": round(self._elapsed, 3),
            "fps": round(self.frames / self._elapsed, 2) if self._elapsed > 0 else 0.0,
            "mean_ms": {k: round(v / n, 3) for k, v in self._stage_sums.items()},
        }

    def _run(self) -> Iterator[FrameResult]:
        rec = self.recognizer
        size: Optional[Tuple[int, int]] = None
        last_boxes: Optional[np.ndarray] = None
        since_detect = 0
        try:
            t_wait = time.perf_counter()
            for frame in self.source:
                t0 = time.perf_counter()
                if self._started is None:
                    self._started = t_wait
                read_ms = (t0 - t_wait) * 1e3
                if size is not None and frame.size != size:
                    log.warning("frame %d is %dx%d, previous frames were %dx%d: restarting tracks", frame.index,
                                *frame.size, *size)
                    if self.tracker is not None:
                        self.tracker.reset()
                    last_boxes = None
                    since_detect = 0
                size = frame.size
                faces, detected, classified = self._faces(rec, frame, last_boxes, since_detect)
                t1 = time.perf_counter()
                if detected:
                    since_detect = 1
                    self.detections += 1
                else:
                    since_detect += 1
                last_boxes = np.asarray([f.box for f in faces], np.float32).reshape(-1, 4)
                if self.tracker is not None:
                    faces = self.tracker.update(faces, frame.index, measured=detected)
                    faces.sort(key=lambda f: (-f.area, f.track_id or 0))
                t2 = time.perf_counter()
                # The Recognizer's timings describe its last call: stale when this frame made none.
                rt = (getattr(rec, "timings", None) or {}) if classified else {}
                timings = {
                    "read": read_ms,
                    "detect": float(rt.get("detect", 0.0)) if detected else 0.0,
                    "preprocess": float(rt.get("preprocess", 0.0)),
                    "infer": float(rt.get("infer", 0.0)),
                    "postprocess": float(rt.get("postprocess", 0.0)),
                    "track": (t2 - t1) * 1e3,
                    "total": (t2 - t0) * 1e3,
                }
                for k, v in timings.items():
                    self._stage_sums[k] += v
                self.frames += 1
                result = FrameResult(frame.index, frame.timestamp, tuple(faces), timings, detected, frame.image)
                self._elapsed = time.perf_counter() - self._started
                yield result
                t_wait = time.perf_counter()
        finally:
            if self._started is not None and self.frames:
                self._elapsed = max(self._elapsed, 1e-9)
            self.close()

    def _faces(
        self, rec: Any, frame: Frame, last_boxes: Optional[np.ndarray], since: int
    ) -> Tuple[List[Face], bool, bool]:
        """Detect (every ``detect_every`` frames) or classify the tracked boxes.

        Returns:
            (faces, detected, classified): ``classified`` is False when nothing was followed and the
            Recognizer was not called for this frame.
        """
        image = frame.image
        if self.detect_every > 1 and since and since < self.detect_every and getattr(rec, "detector", 1) is not None:
            if self.tracker is not None:
                boxes, _ = self.tracker.predicted_boxes(frame.index)
            else:
                boxes = last_boxes if last_boxes is not None else np.zeros((0, 4), np.float32)
            boxes, ok = _clip_boxes(np.asarray(boxes, np.float32).reshape(-1, 4), image.shape[1], image.shape[0])
            boxes = boxes[ok]
            if len(boxes) == 0:
                return [], False, False  # nothing to follow until the next detection
            return list(rec.predict(image, boxes=boxes)), False, True
        return list(rec.predict(image)), True, True

    # ----------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Stop reading, release the source and (when created here) the Recognizer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.source.close()
        if self.source.stop_reason in ("stalled", "error"):
            log.warning("stream stopped: %s", self.source.message)
        else:
            log.info("stream stopped: %s", self.source.message)
        if self._own and hasattr(self.recognizer, "close"):
            self.recognizer.close()
        try:
            self._gen.close()
        except ValueError:  # closing a generator from inside itself (its own finally)
            pass

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass


def stream(
    source: SourceLike,
    model: Union[str, Any, None] = None,
    *,
    recognizer: Any = None,
    detect_every: int = 1,
    tracking: Union[bool, TrackerConfig] = True,
    smoothing: str = "ema",
    every: int = 1,
    max_fps: Optional[float] = None,
    timeout: Optional[float] = 5.0,
    live: Optional[bool] = None,
    fps: Optional[float] = None,
    detector: Any = DEFAULT_DETECTOR,
    backend: str = "auto",
    threads: Optional[int] = None,
    providers: Optional[Sequence[str]] = None,
    detector_options: Optional[Dict[str, Any]] = None,
    preprocess: str = "auto",
) -> Stream:
    """Recognise expressions frame by frame in a video file, camera, URL, GStreamer pipeline or frames.

    Args:
        source: anything :func:`fer_edge.video.open_source` accepts (path, camera index, URL, pipeline
            string, image folder, numpy frames or an iterable of them).
        model: classifier path for a new Recognizer (None = bundled default); ignored with ``recognizer``.
        recognizer: an existing Recognizer (not closed by the stream).
        detect_every: run the face detector every N processed frames and classify the tracked boxes in
            between (1 = detect on every frame). Without tracking, the last detected boxes are reused.
        tracking: True for the default :class:`TrackerConfig`, a config, or False for raw per-frame faces
            (no track ids, no smoothing).
        smoothing: "ema", "window" or "none"; applies when ``tracking`` is True (a config carries its own).
        every: process every Nth frame of the source (file frames in between are not decoded).
        max_fps: cap the processing rate (live sources drop frames, files are paced).
        timeout: seconds without a new frame before the stream counts as stalled and stops cleanly.
        live: force drop-to-latest (True) or in-order (False) reading; default by source kind.
        fps: frame rate for timestamps of sources that have none (folders, iterables).
        detector, backend, threads, providers, detector_options, preprocess: for a new Recognizer.

    Returns:
        A :class:`Stream`: iterate it for :class:`FrameResult` s; ``with`` closes the camera.

    Raises:
        InvalidInputError: the source cannot be opened or an option is out of range.

    Example:
        >>> for result in fer_edge.stream("talk.mp4", detect_every=3):
        ...     for face in result.faces:
        ...         print(result.index, face.track_id, face.label)
    """
    if int(detect_every) < 1:
        raise InvalidInputError(f"detect_every must be >= 1, got {detect_every}")
    if tracking is True:
        config: Optional[TrackerConfig] = TrackerConfig(smoothing=smoothing)
    elif isinstance(tracking, TrackerConfig):
        config = tracking
    elif tracking is False or tracking is None:
        config = None
    else:
        raise InvalidInputError(f"tracking must be True, False or a TrackerConfig, got {tracking!r}")
    src = open_source(source, every=every, max_fps=max_fps, timeout=timeout, live=live, fps=fps)
    own = recognizer is None
    if own:
        try:
            from .recognizer import Recognizer

            recognizer = Recognizer(model, detector=detector, backend=backend, threads=threads, providers=providers,
                                    detector_options=detector_options, preprocess=preprocess)
        except BaseException:
            src.close()
            raise
    labels = getattr(getattr(recognizer, "card", None), "labels", None)
    tracker = Tracker(config, labels=labels) if config is not None else None
    return Stream(src, recognizer, own_recognizer=own, detect_every=int(detect_every), tracker=tracker)


def __getattr__(name: str):
    """``measure_fps`` moved to ``fer_edge.bench`` (imported lazily: the benchmark imports this module)."""
    if name == "measure_fps":
        from .bench.fps import measure_fps

        return measure_fps
    if name == "_synthetic_face":
        from .bench.frames import synthetic_face

        return synthetic_face
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
