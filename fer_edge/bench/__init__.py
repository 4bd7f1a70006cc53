"""Per-device benchmark report: per-stage latency percentiles, classifier throughput vs batch, cold start, memory,
video FPS.

One report (JSON + Markdown, PNG plots with matplotlib) per device, backend and precision, with the device
fingerprint inside, so reports from a Jetson, a desktop GPU and a laptop can be put side by side
(``compare_reports``). One file per part: ``config`` (what to measure), ``timing`` (percentiles), ``frames``
(synthetic inputs), ``fps`` (the video loop), ``runner`` (the measurements), ``schema``, ``markdown``, ``plots``,
``output`` (writing), ``compare``.
"""

from .compare import compare_reports
from .config import BARS_MS, MIN_RUNS, REPORT_KIND, SCHEMA_VERSION, STAGES, BenchConfig, config_dict
from .fps import measure_fps, measure_video
from .frames import benchmark_frames, moving_faces_frames, synthetic_face
from .markdown import render_markdown, report_stem
from .output import write_report
from .plots import write_plots
from .runner import (
    backend_label,
    measure_cold_start,
    onnx_node_profile,
    run_benchmark,
    runs_on_gpu,
    tensorrt_fields,
)
from .schema import (
    BAR_SCHEMA,
    COLD_START_SCHEMA,
    REPORT_SCHEMA,
    STATS_SCHEMA,
    load_report,
    schema_errors,
    validate_report,
)
from .timing import summarize, time_calls, time_stages

__all__ = [
    "BARS_MS", "BAR_SCHEMA", "COLD_START_SCHEMA", "MIN_RUNS", "REPORT_KIND", "REPORT_SCHEMA", "SCHEMA_VERSION",
    "STAGES", "STATS_SCHEMA", "BenchConfig", "backend_label", "benchmark_frames", "compare_reports", "config_dict",
    "load_report", "measure_cold_start", "measure_fps", "measure_video", "moving_faces_frames", "onnx_node_profile",
    "render_markdown", "report_stem", "run_benchmark", "runs_on_gpu", "schema_errors", "summarize", "synthetic_face",
    "tensorrt_fields", "time_calls", "time_stages", "validate_report", "write_plots", "write_report",
]
