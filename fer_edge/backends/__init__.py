"""Inference backends, chosen by file suffix (never by sniffing shapes)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from ..errors import ModelFormatError
from .base import Backend

ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan")

__all__ = ["Backend", "backend_from_path"]


def backend_from_path(
    path, *, backend: str = "auto", threads: Optional[int] = None, providers: Optional[Sequence[str]] = None, **kw
) -> Backend:
    """Open ``path`` with the backend its suffix (or ``backend``) names.

    Args:
        path: ``.onnx`` for ONNX Runtime, ``.engine``/``.plan`` for TensorRT.
        backend: "auto" (by suffix), "onnxruntime" or "tensorrt".
        threads: intra-op CPU threads (ONNX Runtime).
        providers: ONNX Runtime execution providers in order of preference.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"Model file not found: {path}")
    suffix = path.suffix.lower()
    if backend == "auto":
        if suffix in ONNX_SUFFIXES:
            backend = "onnxruntime"
        elif suffix in ENGINE_SUFFIXES:
            backend = "tensorrt"
        else:
            raise ModelFormatError(
                f"Cannot tell the model format of {path.name!r} from its suffix; expected one of "
                f"{ONNX_SUFFIXES + ENGINE_SUFFIXES} or pass backend='onnxruntime'/'tensorrt'"
            )
    if backend == "onnxruntime":
        from .onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, threads=threads, providers=providers, **kw)
    if backend == "tensorrt":
        from .tensorrt import TensorRTBackend

        return TensorRTBackend(path, **kw)
    raise ModelFormatError(f"Unknown backend {backend!r}; use 'auto', 'onnxruntime' or 'tensorrt'")
