"""TensorRT backend (placeholder until the TensorRT issue lands): fails with a clear message."""

from __future__ import annotations

from ..errors import MissingDependencyError
from .base import Backend


class TensorRTBackend(Backend):
    """Runs a serialized TensorRT engine; the implementation arrives with the TensorRT issue."""

    name = "tensorrt"

    def __init__(self, path, **kw):
        raise MissingDependencyError(
            "tensorrt", "trt", "running .engine files; the TensorRT backend is not implemented yet, use the .onnx model"
        )
