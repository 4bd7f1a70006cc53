"""What a benchmark measures (``BenchConfig``), the report constants and the config as it appears in a report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple

from ..detect.registry import DEFAULT_DETECTOR
from ..errors import InvalidInputError

SCHEMA_VERSION = 1
REPORT_KIND = "fer_edge.bench"
STAGES = ("detect", "preprocess", "infer", "postprocess", "total")
MIN_RUNS = 50
#: Performance bars of the design (1 CPU thread): classifier per face, and a 640x480 frame with one face.
BARS_MS = {"classification_per_face": 0.5, "frame_1face_total": 5.0}


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark and how.

    Attributes:
        model: classifier path (``.onnx``/``.engine``); None = the bundled default model.
        backend: "auto", "onnxruntime" or "tensorrt".
        threads: CPU threads for detector and classifier; None = library default (all cores).
        providers: ONNX Runtime execution providers; None = by availability.
        detector: detector name given to the Recognizer.
        batches: classifier batch sizes for the throughput sweep.
        runs: timed runs per measurement (≥ 50 for a report; fewer only for tests).
        warmup: untimed runs before each measurement.
        frame_size: (width, height) of the synthetic camera frame.
        image: a BGR image file to use as the one-face frame instead of the bundled-test astronaut.
        cold_start: measure import + load + first predict in a fresh interpreter.
        video: measure video pipeline FPS (detection every frame and every 5th frame).
        video_frames: frames per video measurement.
        profile: record the top functions by own time (cProfile) of the one-face frame loop.
    """

    model: Optional[str] = None
    backend: str = "auto"
    threads: Optional[int] = None
    providers: Optional[Tuple[str, ...]] = None
    detector: str = DEFAULT_DETECTOR
    batches: Tuple[int, ...] = (1, 4, 16)
    runs: int = 100
    warmup: int = 10
    frame_size: Tuple[int, int] = (640, 480)
    image: Optional[str] = None
    cold_start: bool = True
    video: bool = False
    video_frames: int = 100
    profile: bool = False

    def __post_init__(self) -> None:
        if int(self.runs) < 1:
            raise InvalidInputError(f"runs must be >= 1 (>= {MIN_RUNS} for a meaningful report), got {self.runs}")
        if int(self.warmup) < 0:
            raise InvalidInputError(f"warmup must be >= 0, got {self.warmup}")
        if not self.batches or any(int(b) < 1 for b in self.batches):
            raise InvalidInputError(f"batches must be positive integers, got {self.batches}")
        w, h = self.frame_size
        if int(w) < 64 or int(h) < 64:
            raise InvalidInputError(f"frame_size must be at least 64x64, got {w}x{h}")
        if self.threads is not None and int(self.threads) < 1:
            raise InvalidInputError(f"threads must be >= 1, got {self.threads}")


def config_dict(config: BenchConfig) -> Dict[str, Any]:
    """The config as plain JSON types (for logs)."""
    return json.loads(json.dumps(asdict(config)))
