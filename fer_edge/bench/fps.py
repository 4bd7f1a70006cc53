"""End-to-end video FPS: the frame loop (``fer_edge.pipeline.stream``) timed on synthetic clips held in memory."""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidInputError
from .frames import moving_faces_frames, synthetic_face


def _time_stream(recognizer, clip: Sequence[np.ndarray], *, detect_every: int, warmup: int = 0,
                 tracking: Any = True) -> Dict[str, Any]:
    """Run ``clip`` through ``stream`` in order (no frame dropped) and time it after ``warmup`` frames: the one
    FPS measurement behind ``measure_fps`` and the report's video section."""
    from ..pipeline import TIMING_KEYS, stream

    totals: List[float] = []
    found = detections = 0
    stage: Dict[str, float] = dict.fromkeys(TIMING_KEYS, 0.0)
    start = None
    with stream(iter(clip), recognizer=recognizer, detect_every=detect_every, tracking=tracking, live=False,
                timeout=None) as s:
        for result in s:
            if result.index == warmup:
                start = time.perf_counter()
            if result.index < warmup:
                continue
            totals.append(result.timings["total"])
            found += len(result.faces)
            detections += int(result.detected)
            for k in stage:
                stage[k] += result.timings.get(k, 0.0)
    elapsed = time.perf_counter() - start if start is not None else 0.0
    n = max(1, len(totals))
    q = sorted(totals) or [0.0]
    return {
        "fps": round(len(totals) / elapsed, 2) if elapsed > 0 else 0.0,
        "ms_per_frame": round(elapsed * 1e3 / n, 3),
        "p50_ms": round(statistics.median(q), 3),
        "p90_ms": round(q[min(len(q) - 1, int(0.9 * len(q)))], 3),
        "frames": len(totals),
        "detections": detections,
        "faces_per_frame": round(found / n, 3),
        "stages_ms": {k: round(v / n, 3) for k, v in stage.items()},
    }


def measure_fps(
    model: Union[str, Any, None] = None,
    *,
    recognizer: Any = None,
    frames: int = 120,
    size: Tuple[int, int] = (640, 480),
    detect_every: int = 1,
    faces: int = 1,
    threads: Optional[int] = 1,
    warmup: int = 5,
    face_image: Optional[np.ndarray] = None,
    tracking: bool = True,
) -> Dict[str, Any]:
    """End-to-end FPS of :func:`stream` on a synthetic video of moving faces (frames held in memory).

    Measures the whole loop (frame hand-over, detection every ``detect_every`` frames, preprocessing,
    inference, tracking and smoothing) after ``warmup`` frames; video decoding is excluded.

    Args:
        model: classifier for a new Recognizer built with ``threads`` (ignored with ``recognizer``).
        recognizer: an existing Recognizer.
        frames: frames timed (after warm-up).
        size: (width, height) of the synthetic frames.
        detect_every: detector interval (1 = every frame).
        faces: faces per frame.
        threads: CPU threads for the Recognizer and OpenCV (1 = single-thread figure).
        warmup: untimed frames first.
        face_image: BGR face picture to paste (default: scikit-image's astronaut, needs scikit-image).
        tracking: track and smooth (the default pipeline).

    Returns:
        dict with fps, ms_per_frame (mean), p50_ms / p90_ms (per-frame processing), frames, detections,
        faces_per_frame, mean stage ms, and the settings.
    """
    import cv2

    if int(frames) < 1 or int(faces) < 1 or int(warmup) < 0:
        raise InvalidInputError(
            f"measure_fps needs frames >= 1, faces >= 1 and warmup >= 0, got {frames}, {faces}, {warmup}"
        )
    face = synthetic_face() if face_image is None else face_image
    face_size = min(200, size[0] // faces - 20)
    clip = moving_faces_frames(face, n=frames + warmup, size=size, faces=faces, face_size=face_size)
    old_threads = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(int(threads))
    own = recognizer is None
    try:
        if own:
            from ..recognizer import Recognizer

            recognizer = Recognizer(model, threads=threads)
        timed = _time_stream(recognizer, clip, detect_every=detect_every, warmup=warmup, tracking=tracking)
    finally:
        cv2.setNumThreads(old_threads)
        if own and recognizer is not None:
            recognizer.close()
    timed.update({"detect_every": detect_every, "size": list(size), "threads": threads, "faces": faces})
    return timed


def measure_video(recognizer, frame: np.ndarray, frames: int) -> Dict[str, Any]:
    """Video pipeline FPS on a synthetic 1-face clip, detection every frame and every 5th frame."""
    clip = [np.roll(frame, shift=(i % 9) - 4, axis=1) for i in range(8)]  # small motion so tracking has work
    out: Dict[str, Any] = {"frames": int(frames), "reason": None}
    quiet = [logging.getLogger(n) for n in ("fer_edge.video", "fer_edge.pipeline")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.WARNING)  # "frames ended" is expected here
    try:
        for every, field in ((1, "fps_detect_every_frame"), (5, "fps_detect_every_5th")):
            timed = _time_stream(recognizer, [clip[i % len(clip)] for i in range(frames)], detect_every=every)
            out[field] = timed["fps"] if timed["frames"] else None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    return out
