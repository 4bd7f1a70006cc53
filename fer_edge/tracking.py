"""Face tracking across video frames: stable track ids, smoothed probabilities and labels that do not flicker.

An IoU tracker (with a centre-distance fallback for fast motion) gives each face a ``track_id``; each track
smooths its probabilities (exponential moving average or a sliding window) and changes its label only with
hysteresis. Used by :func:`fer_edge.pipeline.stream`; single-image ``predict`` never tracks.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from dataclasses import dataclass
from typing import Deque, List, Optional, Sequence, Tuple

import numpy as np

from .errors import InvalidInputError
from .face import Face

log = logging.getLogger(__name__)

__all__ = ["TrackerConfig", "Track", "Tracker", "iou_matrix", "SMOOTHING_MODES"]

SMOOTHING_MODES = ("ema", "window", "none")


@dataclass(frozen=True)
class TrackerConfig:
    """How faces are associated between frames and how their expressions are smoothed.

    Attributes:
        iou_threshold: minimum IoU between a track's predicted box and a face to match them.
        max_center_distance: fallback match when IoU is too low: centre distance at most this many times
            the track's box size (0 disables).
        max_age: frames a track survives unseen before its id is retired.
        smoothing: "ema" (exponential moving average), "window" (mean of the last ``window`` frames) or
            "none" (raw per-frame probabilities, hysteresis still applies unless it is 0).
        alpha: EMA weight of the newest frame (0 < alpha <= 1; smaller = smoother, slower).
        window: frames averaged by "window" smoothing.
        hysteresis: a new label must beat the current label's smoothed probability by this margin...
        min_switch_frames: ...for this many consecutive frames before the label changes.
        velocity: estimate box motion to predict boxes on frames without detection (False = boxes stay put).
    """

    iou_threshold: float = 0.3
    max_center_distance: float = 0.6
    max_age: int = 15
    smoothing: str = "ema"
    alpha: float = 0.35
    window: int = 8
    hysteresis: float = 0.08
    min_switch_frames: int = 2
    velocity: bool = True

    def __post_init__(self) -> None:
        if self.smoothing not in SMOOTHING_MODES:
            raise InvalidInputError(f"smoothing must be one of {SMOOTHING_MODES}, got {self.smoothing!r}")
        if not 0.0 < self.alpha <= 1.0:
            raise InvalidInputError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.window < 1 or self.max_age < 0 or self.min_switch_frames < 1:
            raise InvalidInputError("window and min_switch_frames must be >= 1 and max_age >= 0")
        if not 0.0 <= self.iou_threshold <= 1.0 or self.hysteresis < 0 or self.max_center_distance < 0:
            raise InvalidInputError("iou_threshold must be in [0, 1]; hysteresis and max_center_distance >= 0")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), xyxy; returns (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


class Track:
    """One tracked face: its box, motion, smoothed probabilities and current (stable) label."""

    def __init__(self, track_id: int, face: Face, labels: Sequence[str], config: TrackerConfig, frame: int):
        self.id = track_id
        self.config = config
        self.labels = tuple(labels)
        self.box = np.asarray(face.box, dtype=np.float64)
        self.velocity = np.zeros(4)
        self.last_frame = frame
        # Last detector-measured box and its frame: predictions extrapolate from here.
        self._anchor: Optional[np.ndarray] = None
        self._anchor_frame = frame
        self.first_frame = frame
        self.hits = 0
        self.misses = 0
        self._ema: Optional[np.ndarray] = None
        self._history: Deque[np.ndarray] = deque(maxlen=config.window)
        self.label: Optional[str] = None
        self._candidate: Optional[str] = None
        self._candidate_count = 0

    def predicted_box(self, frame: int) -> np.ndarray:
        """The box expected at ``frame`` from the last box and the estimated velocity."""
        if not self.config.velocity or self._anchor is None:
            return self.box.copy()
        return self._anchor + self.velocity * max(0, frame - self._anchor_frame)

    def _vector(self, face: Face) -> np.ndarray:
        return np.asarray([float(face.probs.get(k, 0.0)) for k in self.labels], dtype=np.float64)

    def update(self, face: Face, frame: int, measured: bool = True) -> Face:
        """Take this frame's face; return it with ``track_id``, smoothed probs and the stable label.

        Args:
            face: the face matched to this track.
            frame: index of the frame it came from.
            measured: False when the box was this track's own prediction (no detector ran): the box then
                does not update the velocity estimate.
        """
        box = np.asarray(face.box, dtype=np.float64)
        if measured:
            if self._anchor is not None:
                step = (box - self._anchor) / max(1, frame - self._anchor_frame)
                self.velocity = 0.5 * self.velocity + 0.5 * step if self.velocity.any() else step
            self._anchor, self._anchor_frame = box, frame
        self.box = box
        self.last_frame = frame
        self.hits += 1
        self.misses = 0
        if not face.probs or not self.labels:
            return dataclasses.replace(face, track_id=self.id)
        probs = self._smooth(self._vector(face))
        label = self._stable_label(probs)
        prob_dict = {k: float(v) for k, v in zip(self.labels, probs)}
        return dataclasses.replace(
            face, track_id=self.id, probs=prob_dict, label=label, confidence=prob_dict[label]
        )

    def _smooth(self, p: np.ndarray) -> np.ndarray:
        mode = self.config.smoothing
        if mode == "ema":
            self._ema = p.copy() if self._ema is None else self.config.alpha * p + (1 - self.config.alpha) * self._ema
            return self._ema
        if mode == "window":
            self._history.append(p)
            return np.mean(np.stack(self._history), axis=0)
        return p

    def _stable_label(self, probs: np.ndarray) -> str:
        best = self.labels[int(np.argmax(probs))]
        if self.label is None:
            self.label = best
            return best
        if best == self.label:
            self._candidate, self._candidate_count = None, 0
            return self.label
        current = probs[self.labels.index(self.label)]
        if probs[self.labels.index(best)] >= current + self.config.hysteresis:
            if best == self._candidate:
                self._candidate_count += 1
            else:
                self._candidate, self._candidate_count = best, 1
            if self._candidate_count >= self.config.min_switch_frames:
                self.label = best
                self._candidate, self._candidate_count = None, 0
        else:
            self._candidate, self._candidate_count = None, 0
        return self.label


class Tracker:
    """Assigns stable ``track_id``s to faces frame after frame and smooths their expressions.

    Example:
        >>> tracker = Tracker()
        >>> for index, frame in enumerate(frames):
        ...     faces = tracker.update(recognizer.predict(frame), index)
    """

    def __init__(self, config: Optional[TrackerConfig] = None, labels: Optional[Sequence[str]] = None):
        self.config = config or TrackerConfig()
        self.labels: Optional[Tuple[str, ...]] = tuple(labels) if labels else None
        self.tracks: List[Track] = []
        self._next_id = 1
        self._frame = -1

    def reset(self) -> None:
        """Forget every track (e.g. after a cut or a change of frame size); ids keep increasing."""
        self.tracks = []

    def predicted_boxes(self, frame: Optional[int] = None) -> Tuple[np.ndarray, List[int]]:
        """Boxes where live tracks are expected at ``frame`` (next frame by default) and their ids.

        Only tracks seen on the previous processed frame are returned: a track already lost stays lost
        until the detector finds it again.
        """
        frame = self._frame + 1 if frame is None else frame
        live = [t for t in self.tracks if t.misses == 0]
        boxes = np.asarray([t.predicted_box(frame) for t in live], dtype=np.float32).reshape(-1, 4)
        return boxes, [t.id for t in live]

    def update(self, faces: Sequence[Face], frame: Optional[int] = None, measured: bool = True) -> List[Face]:
        """Match this frame's faces to tracks and return them with ids and smoothed expressions.

        Args:
            faces: the faces found in this frame.
            frame: index of the frame (consecutive by default); gaps are allowed (skipped frames).
            measured: False when the boxes are the tracker's own predictions (frames without detection).

        Returns:
            The faces in the given order, each with ``track_id`` set and, when smoothing is on,
            smoothed ``probs``/``confidence`` and the hysteresis ``label``.
        """
        frame = self._frame + 1 if frame is None else int(frame)
        self._frame = frame
        if self.labels is None:
            for face in faces:
                if face.probs:
                    self.labels = tuple(face.probs)
                    break
        matches = self._associate(faces, frame)
        out: List[Optional[Face]] = [None] * len(faces)
        matched_tracks = set()
        for fi, ti in matches:
            track = self.tracks[ti]
            out[fi] = track.update(faces[fi], frame, measured)
            matched_tracks.add(ti)
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.config.max_age]
        for fi, face in enumerate(faces):
            if out[fi] is None:
                track = Track(self._next_id, face, self.labels or (), self.config, frame)
                self._next_id += 1
                self.tracks.append(track)
                out[fi] = track.update(face, frame, measured)
        return [f for f in out if f is not None]

    def _associate(self, faces: Sequence[Face], frame: int) -> List[Tuple[int, int]]:
        if not faces or not self.tracks:
            return []
        boxes = np.asarray([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
        predicted = np.stack([t.predicted_box(frame) for t in self.tracks])
        iou = iou_matrix(boxes, predicted)
        # Fallback score for fast motion: 1 - (centre distance / (max_center_distance * box size)), in (0, 1].
        fc = (boxes[:, :2] + boxes[:, 2:]) / 2
        tc = (predicted[:, :2] + predicted[:, 2:]) / 2
        size = np.maximum(predicted[:, 2] - predicted[:, 0], predicted[:, 3] - predicted[:, 1])
        dist = np.linalg.norm(fc[:, None, :] - tc[None, :, :], axis=2)
        if self.config.max_center_distance > 0:
            reach = np.maximum(self.config.max_center_distance * size[None, :], 1e-6)
            near = np.clip(1.0 - dist / reach, 0.0, None)
        else:
            near = np.zeros_like(iou)
        # Greedy assignment: IoU matches first (best first), then centre-distance matches for the rest.
        pairs: List[Tuple[int, int]] = []
        used_f, used_t = set(), set()
        for score, threshold in ((iou, self.config.iou_threshold), (near, 1e-9)):
            order = np.dstack(np.unravel_index(np.argsort(-score, axis=None), score.shape))[0]
            for fi, ti in order:
                if score[fi, ti] < threshold or score[fi, ti] <= 0:
                    break
                if fi in used_f or ti in used_t:
                    continue
                pairs.append((int(fi), int(ti)))
                used_f.add(fi)
                used_t.add(ti)
        return pairs
