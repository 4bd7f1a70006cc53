"""Inference backends, chosen by file suffix (never by sniffing shapes)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from ..errors import ModelFormatError
from .base import Backend, BackendOptions, DeviceView

ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan")

__all__ = ["Backend", "BackendOptions", "DeviceView", "backend_from_path"]


def backend_from_path(
    path,
    *,
    backend: str = "auto",
    options: Optional[BackendOptions] = None,
    threads: Optional[int] = None,
    providers: Optional[Sequence[str]] = None,
    **kw,
) -> Backend:
    """Open ``path`` with the backend its suffix (or ``backend``) names.

    Args:
        path: ``.onnx`` for ONNX Runtime, ``.engine``/``.plan`` for TensorRT. An ``.onnx`` with
            ``backend="tensorrt"`` is built into an engine once (engine cache) and then reused.
        backend: "auto" (by suffix), "onnxruntime" or "tensorrt".
        options: device, threads, providers, CUDA layer, cache folder (``BackendOptions``).
        threads, providers: shorthands overriding ``options`` (kept for the public Recognizer kwargs).
        **kw: backend-specific arguments (``card=`` for ONNX Runtime).
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFormatError(f"{path} is a directory; pass the model file inside it (.onnx or .engine)")
    if not path.is_file():
        raise ModelFormatError(f"Model file not found: {path}")
    options = BackendOptions.from_kwargs(options, threads=threads, providers=providers)
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

        return OnnxRuntimeBackend(path, options=options, **kw)
    if backend == "tensorrt":
        from .tensorrt import TensorRTBackend

        if suffix in ONNX_SUFFIXES:
            return TensorRTBackend.from_onnx(path, options=options, **kw)
        return TensorRTBackend(path, options=options, **kw)
    raise ModelFormatError(f"Unknown backend {backend!r}; use 'auto', 'onnxruntime' or 'tensorrt'")
