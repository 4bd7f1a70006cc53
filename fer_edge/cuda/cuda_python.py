"""cuda-python (``cuda.bindings.runtime``): NVIDIA's choice since TensorRT 8.6; runs on the primary context."""

from __future__ import annotations

import ctypes
from typing import Tuple

import numpy as np

from .._optional import require
from .base import CudaApi, CudaError, DeviceBuffer, PinnedBuffer, Stream, host_pointer


class CudaPythonApi(CudaApi):
    """The memory/stream layer over ``cuda.bindings.runtime`` (cuda-python ≥ 12; 13.x dropped ``from cuda import
    cudart``). Runtime-API calls share the device's primary context with TensorRT, torch and the CUDA extension."""

    name = "cuda-python"

    def __init__(self, device: int = 0):
        self._rt = require("cuda.bindings.runtime", "cuda", "GPU buffers and streams")
        count = int(self._call(self._rt.cudaGetDeviceCount()))  # raises with the driver's reason
        if not 0 <= int(device) < count:
            raise CudaError(f"CUDA device {device} does not exist ({count} device(s) visible)")
        self._call(self._rt.cudaSetDevice(int(device)))
        self.device = int(device)

    # cuda.bindings returns (err, *values); this unwraps them (NVIDIA samples call it cuda_call).
    def _call(self, result):
        if isinstance(result, tuple):
            err, values = result[0], result[1:]
        else:
            err, values = result, ()
        if int(err) != 0:
            _, text = self._rt.cudaGetErrorString(err)
            name = getattr(err, "name", str(err))
            raise CudaError(f"CUDA error {name} ({int(err)}): {text.decode(errors='replace') if text else ''}; "
                            "check the NVIDIA driver (nvidia-smi) and that a GPU is visible")
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def device_count(self) -> int:
        try:
            return int(self._call(self._rt.cudaGetDeviceCount()))
        except CudaError:
            return 0

    def device_properties(self) -> Tuple[str, Tuple[int, int]]:
        props = self._call(self._rt.cudaGetDeviceProperties(self.device))
        name = props.name
        name = bytes(name).split(b"\0", 1)[0].decode(errors="replace") if not isinstance(name, str) else name
        return name.strip(), (int(props.major), int(props.minor))

    def malloc(self, nbytes: int) -> DeviceBuffer:
        ptr = self._call(self._rt.cudaMalloc(int(nbytes)))
        return DeviceBuffer(self, int(ptr), nbytes)

    def free(self, buf: DeviceBuffer) -> None:
        self._call(self._rt.cudaFree(buf.ptr))

    def pinned_empty(self, shape: Tuple[int, ...], dtype=np.float32) -> PinnedBuffer:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        ptr = int(self._call(self._rt.cudaMallocHost(max(nbytes, 1))))
        raw = (ctypes.c_byte * max(nbytes, 1)).from_address(ptr)
        array = np.frombuffer(raw, dtype=np.uint8, count=nbytes).view(dtype).reshape(shape)
        return PinnedBuffer(self, array, ptr)

    def free_pinned(self, buf: PinnedBuffer) -> None:
        self._call(self._rt.cudaFreeHost(buf.ptr))

    def memcpy_htod_async(self, dst: int, src: np.ndarray, stream: Stream) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self._rt.cudaMemcpyAsync(int(dst), host_pointer(src), src.nbytes, kind, stream.native))

    def memcpy_dtoh_async(self, dst: np.ndarray, src: int, stream: Stream) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(self._rt.cudaMemcpyAsync(host_pointer(dst, True), int(src), dst.nbytes, kind, stream.native))

    def stream_create(self) -> Stream:
        native = self._call(self._rt.cudaStreamCreateWithFlags(self._rt.cudaStreamNonBlocking))
        return Stream(self, int(native), native)

    def stream_synchronize(self, stream: Stream) -> None:
        self._call(self._rt.cudaStreamSynchronize(stream.native))

    supports_graphs = True

    def graph_capture_begin(self, stream: Stream) -> None:
        mode = self._rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self._call(self._rt.cudaStreamBeginCapture(stream.native, mode))

    def graph_capture_end(self, stream: Stream):
        graph = self._call(self._rt.cudaStreamEndCapture(stream.native))
        try:
            exec_graph = self._call(self._rt.cudaGraphInstantiate(graph, 0))
        finally:
            self._call(self._rt.cudaGraphDestroy(graph))
        return exec_graph

    def graph_launch(self, graph, stream: Stream) -> None:
        self._call(self._rt.cudaGraphLaunch(graph, stream.native))

    def graph_destroy(self, graph) -> None:
        self._call(self._rt.cudaGraphExecDestroy(graph))

    def stream_destroy(self, stream: Stream) -> None:
        self._call(self._rt.cudaStreamDestroy(stream.native))
