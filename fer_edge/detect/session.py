"""One ONNX Runtime session setup for every bundled detector (small CPU networks: sequential, CPU unless asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from ..errors import ModelFormatError

__all__ = ["detector_session"]


def detector_session(path: Path, threads: Optional[int], providers: Optional[Sequence[str]]):
    """An ``onnxruntime.InferenceSession`` for a detector file; a load failure becomes a ModelFormatError."""
    import onnxruntime as ort

    from ..backends.onnxruntime import choose_providers

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    # A 0.2-1 MB detector gains nothing from a GPU round trip by default; providers= opts in.
    chosen = choose_providers(providers) if providers else ["CPUExecutionProvider"]
    # The bundled detectors carry an integrity record (tools/seal_assets.py): a damaged copy is refused here.
    from ..integrity import ModelBytes, read_model_bytes, verify_file_integrity

    verify_file_integrity(ModelBytes(read_model_bytes(path), where=f"the face detector {Path(path).name}"))
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as exc:  # ORT raises its own exception types
        first_line = str(exc).splitlines()[0]
        raise ModelFormatError(f"ONNX Runtime cannot load the face detector {path}: {first_line}") from exc
