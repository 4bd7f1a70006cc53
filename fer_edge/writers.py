"""Result writers for video runs: annotated video, JSON Lines and CSV (one row per face per frame), track summary.

Row schema (CSV columns; JSON Lines keys are the same, with ``box``/``probs``/``landmarks`` nested):

====================  ==========================================================================
``frame``             frame index in the source (0-based; gaps = skipped or dropped frames)
``timestamp``         seconds since the start of the source
``track_id``          stable id of the face across frames (empty / null without tracking)
``x1 y1 x2 y2``       face box in frame pixels (JSON: ``box`` = [x1, y1, x2, y2])
``score``             detector confidence (1.0 on frames where the box came from the tracker)
``label``             expression (smoothed and hysteresis-stable when tracking)
``confidence``        probability of ``label``
``p_<label>``         probability of each label, in the model card's order (JSON: ``probs`` dict)
``detected``          1 if the detector ran on this frame, 0 if the box came from the tracker
====================  ==========================================================================

JSON Lines rows also carry ``landmarks`` ([[x, y], ...], empty on tracker frames).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import IO, Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .atomic import atomic_write_bytes, remove_stale_temps, temp_path_for
from .errors import FerEdgeError, InvalidInputError
from .face import Face
from .safe_text import spreadsheet_safe
from .video import to_bgr

log = logging.getLogger(__name__)

__all__ = [
    "CSV_BASE_COLUMNS",
    "face_row",
    "VideoWriter",
    "CsvWriter",
    "JsonlWriter",
    "TrackSummary",
]

CSV_BASE_COLUMNS = ("frame", "timestamp", "track_id", "x1", "y1", "x2", "y2", "score", "label", "confidence")
_FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}

PathLike = Union[str, Path]


def face_row(frame: int, timestamp: float, face: Face, detected: bool = True) -> Dict[str, Any]:
    """One JSON Lines record: the face's fields plus the frame it belongs to (schema in the module doc)."""
    row: Dict[str, Any] = {"frame": int(frame), "timestamp": round(float(timestamp), 4)}
    d = face.as_dict()
    row["track_id"] = d.pop("track_id")
    row.update(d)
    row["detected"] = bool(detected)
    return row


class VideoWriter:
    """Writes BGR frames to a video file; opened on the first frame, whose size every later frame gets.

    Frames of another size are resized (with one warning); gray and BGRA frames are converted.

    Args:
        path: output file; the codec follows the suffix (.mp4 → mp4v, .avi → MJPG, .mkv → XVID).
        fps: frames per second stored in the file.
        fourcc: four-character codec code overriding the suffix's.
    """

    def __init__(self, path: PathLike, fps: float = 30.0, fourcc: Optional[str] = None):
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        suffix = self.path.suffix.lower()
        if fourcc is None and suffix not in _FOURCC_BY_SUFFIX:
            raise InvalidInputError(
                f"cannot write video {self.path}: unknown suffix {suffix!r}; use one of {sorted(_FOURCC_BY_SUFFIX)}"
            )
        self.fourcc = fourcc or _FOURCC_BY_SUFFIX[suffix]
        self.size: Optional[Tuple[int, int]] = None
        self.frames = 0
        self._writer: Optional[cv2.VideoWriter] = None
        self._tmp: Optional[Path] = None
        self._warned = False

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (BGR, gray or BGRA uint8)."""
        image = to_bgr(frame, f"frame {self.frames} for {self.path.name}")
        size = (image.shape[1], image.shape[0])
        if self._writer is None:
            self._open(size)
        if size != self.size:
            if not self._warned:
                log.warning("%s: frame %d is %dx%d, the video is %dx%d; resizing", self.path.name, self.frames,
                            size[0], size[1], *self.size)  # type: ignore[misc]
                self._warned = True
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)  # type: ignore[arg-type]
        self._writer.write(image)  # type: ignore[union-attr]
        self.frames += 1

    def _open(self, size: Tuple[int, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temp name and renamed by close(): a killed run leaves no unplayable video at the final
        # path (an .mp4 without its index), and the next writer of that path removes the dead run's temp file.
        remove_stale_temps(self.path)
        self._tmp = temp_path_for(self.path)
        writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size)
        if not writer.isOpened():
            writer.release()
            self._tmp.unlink(missing_ok=True)
            raise InvalidInputError(
                f"OpenCV cannot write {self.path} with codec {self.fourcc}; try an .avi output (MJPG) or "
                "check that the folder is writable"
            )
        self._writer = writer
        self.size = size

    def close(self) -> None:
        """Finish the file (idempotent)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)
            log.info("wrote %d frames to %s", self.frames, self.path)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _TextWriter:
    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: Optional[IO[str]] = open(self.path, "w", newline="", encoding="utf-8")
        self.rows = 0

    def write_result(self, result: Any) -> None:
        """Write the faces of a :class:`fer_edge.pipeline.FrameResult` (one row per face)."""
        self.write_faces(result.index, result.timestamp, result.faces, getattr(result, "detected", True))

    def write_faces(self, frame: int, timestamp: float, faces: Iterable[Face], detected: bool = True) -> None:
        raise NotImplementedError

    def _open_file(self) -> IO[str]:
        if self._fh is None:
            raise FerEdgeError(f"{self.path.name}: this writer was closed; create a new one to write more rows")
        return self._fh

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonlWriter(_TextWriter):
    """JSON Lines: one object per face per frame (schema in the module doc); flushed per frame."""

    def write_faces(self, frame: int, timestamp: float, faces: Iterable[Face], detected: bool = True) -> None:
        fh = self._open_file()
        for face in faces:
            fh.write(json.dumps(face_row(frame, timestamp, face, detected)) + "\n")
            self.rows += 1
        fh.flush()


class CsvWriter(_TextWriter):
    """CSV: one row per face per frame; columns ``CSV_BASE_COLUMNS`` + ``p_<label>`` + ``detected``.

    Args:
        path: output file.
        labels: the model card's labels (column order); default: those of the first face written.
    """

    def __init__(self, path: PathLike, labels: Optional[Sequence[str]] = None):
        super().__init__(path)
        self.labels: Optional[Tuple[str, ...]] = tuple(labels) if labels else None
        self._csv: Optional[Any] = None

    @property
    def columns(self) -> List[str]:
        return list(CSV_BASE_COLUMNS) + [f"p_{k}" for k in (self.labels or ())] + ["detected"]

    def _start(self) -> None:
        self._csv = csv.writer(self._fh)  # type: ignore[arg-type]
        self._csv.writerow([spreadsheet_safe(c) for c in self.columns])

    def write_faces(self, frame: int, timestamp: float, faces: Iterable[Face], detected: bool = True) -> None:
        fh = self._open_file()
        for face in faces:
            if self._csv is None:
                if self.labels is None:
                    self.labels = tuple(face.probs)
                self._start()
            x1, y1, x2, y2 = (round(float(v), 2) for v in face.box)
            row = [int(frame), round(float(timestamp), 4), "" if face.track_id is None else face.track_id,
                   x1, y1, x2, y2, round(float(face.score), 4), face.label, round(float(face.confidence), 4)]
            row += [round(float(face.probs.get(k, 0.0)), 4) for k in self.labels or ()]
            row.append(int(bool(detected)))
            self._csv.writerow([spreadsheet_safe(c) for c in row])  # type: ignore[union-attr]
            self.rows += 1
        fh.flush()

    def close(self) -> None:
        if self._fh is not None and self._csv is None:
            self._start()  # an empty run still gets a header
        super().close()


class TrackSummary:
    """Per-track summary of a run: when each track was seen, its dominant expression and time shares.

    Shares are the fraction of the track's processed frames that carried each (stable) label, which is
    its share of time on screen when frames are evenly spaced. Faces without a track id are pooled
    under ``track_id = None``.
    """

    def __init__(self) -> None:
        self._tracks: Dict[Optional[int], Dict[str, Any]] = {}
        self.frames = 0
        self.first_timestamp: Optional[float] = None
        self.last_timestamp: Optional[float] = None

    def update(self, result: Any) -> None:
        """Add one :class:`fer_edge.pipeline.FrameResult`."""
        self.add(result.index, result.timestamp, result.faces)

    def add(self, frame: int, timestamp: float, faces: Iterable[Face]) -> None:
        """Add the faces of one frame."""
        self.frames += 1
        if self.first_timestamp is None:
            self.first_timestamp = timestamp
        self.last_timestamp = timestamp
        for face in faces:
            t = self._tracks.get(face.track_id)
            if t is None:
                t = self._tracks[face.track_id] = {
                    "first_frame": frame, "first_timestamp": timestamp, "labels": Counter(), "prob_sums": {},
                    "frames": 0,
                }
            t["last_frame"] = frame
            t["last_timestamp"] = timestamp
            t["frames"] += 1
            t["labels"][face.label] += 1
            for k, v in face.probs.items():
                t["prob_sums"][k] = t["prob_sums"].get(k, 0.0) + float(v)

    def tracks(self) -> List[Dict[str, Any]]:
        """One dict per track: track_id, first/last frame and timestamp, duration_s, frames, dominant,
        shares {label: fraction}, mean_probs {label: mean probability}; ordered by track id."""
        out = []
        for tid in sorted(self._tracks, key=lambda t: (t is None, t or 0)):
            t = self._tracks[tid]
            n = t["frames"]
            labels: Counter = t["labels"]
            dominant = max(labels.items(), key=lambda kv: (kv[1], -list(labels).index(kv[0])))[0]
            out.append({
                "track_id": tid,
                "first_frame": t["first_frame"],
                "last_frame": t["last_frame"],
                "first_timestamp": round(t["first_timestamp"], 4),
                "last_timestamp": round(t["last_timestamp"], 4),
                "duration_s": round(t["last_timestamp"] - t["first_timestamp"], 4),
                "frames": n,
                "dominant": dominant,
                "shares": {k: round(c / n, 4) for k, c in labels.most_common()},
                "mean_probs": {k: round(v / n, 4) for k, v in t["prob_sums"].items()},
            })
        return out

    def as_dict(self) -> Dict[str, Any]:
        """{"frames": processed frames, "duration_s": ..., "tracks": [...]}."""
        duration = 0.0
        if self.first_timestamp is not None and self.last_timestamp is not None:
            duration = self.last_timestamp - self.first_timestamp
        return {"frames": self.frames, "duration_s": round(duration, 4), "tracks": self.tracks()}

    def write_json(self, path: PathLike) -> Path:
        """Write :meth:`as_dict` as indented JSON (atomically: a killed run leaves the old file or none) and return
        the path."""
        return atomic_write_bytes(Path(path), (json.dumps(self.as_dict(), indent=2) + "\n").encode("utf-8"))

    def lines(self) -> List[str]:
        """Human-readable one line per track."""
        rows = []
        for t in self.tracks():
            name = "untracked" if t["track_id"] is None else f"track #{t['track_id']}"
            shares = ", ".join(f"{k} {v:.0%}" for k, v in list(t["shares"].items())[:3])
            rows.append(f"{name}: {t['frames']} frames, {t['duration_s']:.1f} s, mostly {t['dominant']} ({shares})")
        return rows
