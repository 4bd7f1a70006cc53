"""The device memory/stream interface both CUDA implementations provide (alloc, pinned host, async copies, streams)."""

from __future__ import annotations

import abc
from typing import Tuple

import numpy as np

from ..errors import FerEdgeError


class CudaError(FerEdgeError, RuntimeError):
    """A CUDA call failed (no driver, no device, out of memory...)."""


class Stream:
    """A CUDA stream; ``handle`` is the raw ``cudaStream_t`` value to pass to TensorRT or a kernel."""

    def __init__(self, api: CudaApi, handle: int, native=None):
        self.api, self.handle, self.native = api, int(handle), native

    def synchronize(self) -> None:
        self.api.stream_synchronize(self)

    def close(self) -> None:
        if self.native is not None or self.handle:
            self.api.stream_destroy(self)
            self.native, self.handle = None, 0

    def __int__(self) -> int:
        return self.handle

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DeviceBuffer:
    """``nbytes`` of device memory at ``ptr``; freed by ``free()`` (idempotent) or on exit."""

    def __init__(self, api: CudaApi, ptr: int, nbytes: int, native=None):
        self.api, self.ptr, self.nbytes, self.native = api, int(ptr), int(nbytes), native

    def free(self) -> None:
        if self.ptr:
            self.api.free(self)
            self.ptr, self.native = 0, None

    def __int__(self) -> int:
        return self.ptr

    def __enter__(self) -> DeviceBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.free()


class PinnedBuffer:
    """Page-locked host memory seen as ``array`` (a numpy view); needed for copies that overlap compute."""

    def __init__(self, api: CudaApi, array: np.ndarray, ptr: int, native=None):
        self.api, self.array, self.ptr, self.native = api, array, int(ptr), native

    def free(self) -> None:
        if self.ptr:
            self.api.free_pinned(self)
            self.ptr, self.native = 0, None

    def __enter__(self) -> PinnedBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.free()


class CudaApi(abc.ABC):
    """Minimal CUDA runtime surface used by the TensorRT backend and the legacy INT8 calibrator."""

    name = "cuda"

    def close(self) -> None:
        """Release what the implementation holds on the device (idempotent); buffers must be freed first."""
        return None  # cuda-python runs on the primary context and holds nothing of its own

    def __enter__(self) -> CudaApi:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abc.abstractmethod
    def device_count(self) -> int: ...

    def device_properties(self) -> Tuple[str, Tuple[int, int]]:
        """(GPU name, (major, minor) compute capability) of the current device (the engine sidecar records both)."""
        raise CudaError(f"the {self.name} CUDA layer cannot report device properties")

    @abc.abstractmethod
    def malloc(self, nbytes: int) -> DeviceBuffer: ...

    @abc.abstractmethod
    def free(self, buf: DeviceBuffer) -> None: ...

    @abc.abstractmethod
    def pinned_empty(self, shape: Tuple[int, ...], dtype=np.float32) -> PinnedBuffer: ...

    @abc.abstractmethod
    def free_pinned(self, buf: PinnedBuffer) -> None: ...

    @abc.abstractmethod
    def memcpy_htod_async(self, dst: int, src: np.ndarray, stream: Stream) -> None: ...

    @abc.abstractmethod
    def memcpy_dtoh_async(self, dst: np.ndarray, src: int, stream: Stream) -> None: ...

    @abc.abstractmethod
    def stream_create(self) -> Stream: ...

    @abc.abstractmethod
    def stream_synchronize(self, stream: Stream) -> None: ...

    @abc.abstractmethod
    def stream_destroy(self, stream: Stream) -> None: ...

    # CUDA graphs (optional: replay a captured inference per batch shape; ``supports_graphs`` says if available)
    supports_graphs = False

    def graph_capture_begin(self, stream: Stream) -> None:
        raise CudaError(f"the {self.name} CUDA layer does not capture CUDA graphs; use cuda-python")

    def graph_capture_end(self, stream: Stream):
        raise CudaError(f"the {self.name} CUDA layer does not capture CUDA graphs; use cuda-python")

    def graph_launch(self, graph, stream: Stream) -> None:
        raise CudaError(f"the {self.name} CUDA layer does not launch CUDA graphs; use cuda-python")

    def graph_destroy(self, graph) -> None:
        return None

    def memcpy_htod(self, dst: int, src: np.ndarray) -> None:
        """Blocking host → device copy (through a temporary stream)."""
        with self.stream_create() as stream:
            self.memcpy_htod_async(dst, src, stream)
            stream.synchronize()

    def memcpy_dtoh(self, dst: np.ndarray, src: int) -> None:
        """Blocking device → host copy."""
        with self.stream_create() as stream:
            self.memcpy_dtoh_async(dst, src, stream)
            stream.synchronize()


def host_pointer(array: np.ndarray, writable: bool = False) -> int:
    """Address of a C-contiguous numpy array (checked)."""
    if not isinstance(array, np.ndarray) or not array.flags["C_CONTIGUOUS"]:
        raise CudaError("host buffers must be C-contiguous numpy arrays; use np.ascontiguousarray")
    if writable and not array.flags["WRITEABLE"]:
        raise CudaError("destination host array is read-only")
    return int(array.ctypes.data)
