"""A fake ``triton_python_backend_utils`` module with the real Python backend's names, for running model.py here.

The real module is the pure-Python ``triton_python_backend_utils.py`` plus classes the backend stub injects from
C++ (``Tensor``, ``InferenceRequest``, ``InferenceResponse``, ``TritonError``, ``TritonModelException``,
``Logger``). Names and call shapes follow Triton's Python backend: ``Tensor(name, ndarray)`` with ``name()`` and
``as_numpy()``; ``request.inputs()``; ``InferenceResponse(output_tensors=[...], error=None)`` with
``output_tensors()``, ``has_error()`` and ``error()``; ``TritonError(message)`` with ``message()``;
``get_input_tensor_by_name(request, name)`` returning None for an absent (optional) input.
Install with ``monkeypatch.setitem(sys.modules, "triton_python_backend_utils", make_fake_pb_utils())``.
"""

from __future__ import annotations

import types
from typing import List, Optional

import numpy as np


class Tensor:
    def __init__(self, name: str, array: np.ndarray):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"Tensor {name!r} needs a numpy array, got {type(array).__name__}")
        if array.dtype == np.object_ and any(not isinstance(v, bytes) for v in array.ravel()):
            raise TypeError(f"Tensor {name!r}: object arrays must hold bytes (TYPE_STRING)")
        self._name = name
        self._array = array

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array


class InferenceRequest:
    """What the server hands to execute(): the inputs the client sent (here, built by the test)."""

    def __init__(self, inputs: List[Tensor], requested_output_names: Optional[List[str]] = None):
        self._inputs = list(inputs)
        self._requested = list(requested_output_names or [])

    def inputs(self) -> List[Tensor]:
        return list(self._inputs)

    def requested_output_names(self) -> List[str]:
        return list(self._requested)


class TritonError:
    def __init__(self, message: str):
        self._message = message

    def message(self) -> str:
        return self._message


class TritonModelException(Exception):
    pass


class InferenceResponse:
    def __init__(self, output_tensors: List[Tensor], error: Optional[TritonError] = None):
        if not isinstance(output_tensors, list):
            raise TypeError("output_tensors must be a list of Tensor")
        self._outputs = output_tensors
        self._error = error

    def output_tensors(self) -> List[Tensor]:
        return list(self._outputs)

    def has_error(self) -> bool:
        return self._error is not None

    def error(self) -> Optional[TritonError]:
        return self._error


class Logger:
    records: List[tuple] = []

    @classmethod
    def log_info(cls, message: str) -> None:
        cls.records.append(("info", message))

    @classmethod
    def log_warn(cls, message: str) -> None:
        cls.records.append(("warn", message))

    @classmethod
    def log_error(cls, message: str) -> None:
        cls.records.append(("error", message))

    @classmethod
    def log_verbose(cls, message: str) -> None:
        cls.records.append(("verbose", message))


def get_input_tensor_by_name(inference_request: InferenceRequest, name: str) -> Optional[Tensor]:
    for tensor in inference_request.inputs():
        if tensor.name() == name:
            return tensor
    return None


def get_output_tensor_by_name(inference_response: InferenceResponse, name: str) -> Optional[Tensor]:
    for tensor in inference_response.output_tensors():
        if tensor.name() == name:
            return tensor
    return None


def make_fake_pb_utils() -> types.ModuleType:
    """A fresh module object named ``triton_python_backend_utils`` holding the fakes above."""
    module = types.ModuleType("triton_python_backend_utils")
    for obj in (Tensor, InferenceRequest, InferenceResponse, TritonError, TritonModelException, Logger,
                get_input_tensor_by_name, get_output_tensor_by_name):
        setattr(module, obj.__name__, obj)
    Logger.records = []
    return module
