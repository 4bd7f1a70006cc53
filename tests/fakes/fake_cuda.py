"""A host-memory ``fer_edge.cuda.CudaApi``: device pointers are keys into byte arrays; every call is recorded."""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from fer_edge.cuda.base import CudaApi, CudaError, DeviceBuffer, PinnedBuffer, Stream


class FakeCudaApi(CudaApi):
    name = "fake"

    def __init__(self, device: int = 0, gpu: str = "Orin", compute_capability=(8, 7)):
        self.gpu, self.compute_capability = gpu, tuple(compute_capability)
        self.closed = False
        self.memory: Dict[int, np.ndarray] = {}
        self.calls: List[Tuple] = []
        self.uploads: List[np.ndarray] = []  # every H2D payload, in order
        self._next = 0x1000

    def _ptr(self, nbytes: int) -> int:
        ptr, self._next = self._next, self._next + ((nbytes + 255) // 256 + 1) * 256
        return ptr

    def device_count(self) -> int:
        return 1

    def device_properties(self):
        return self.gpu, self.compute_capability

    def close(self) -> None:
        self.closed = True

    def malloc(self, nbytes: int) -> DeviceBuffer:
        ptr = self._ptr(nbytes)
        self.memory[ptr] = np.zeros(int(nbytes), np.uint8)
        self.calls.append(("malloc", nbytes))
        return DeviceBuffer(self, ptr, nbytes)

    def free(self, buf: DeviceBuffer) -> None:
        if buf.ptr not in self.memory:
            raise CudaError(f"double free of {buf.ptr:#x}")
        del self.memory[buf.ptr]
        self.calls.append(("free", buf.ptr))

    def pinned_empty(self, shape, dtype=np.float32) -> PinnedBuffer:
        arr = np.zeros(shape, dtype)
        self.calls.append(("pinned_empty", tuple(shape)))
        return PinnedBuffer(self, arr, arr.ctypes.data)

    def free_pinned(self, buf: PinnedBuffer) -> None:
        self.calls.append(("free_pinned",))

    def memcpy_htod_async(self, dst: int, src: np.ndarray, stream: Stream) -> None:
        mem = self.memory[int(dst)]
        if src.nbytes > mem.nbytes:
            raise CudaError("copy past the end of the device buffer")
        mem[: src.nbytes] = np.frombuffer(np.ascontiguousarray(src).tobytes(), np.uint8)
        self.uploads.append(np.array(src, copy=True))
        self.calls.append(("htod", int(dst), src.nbytes))

    def memcpy_dtoh_async(self, dst: np.ndarray, src: int, stream: Stream) -> None:
        dst.view(np.uint8).reshape(-1)[:] = self.memory[int(src)][: dst.nbytes]
        self.calls.append(("dtoh", int(src), dst.nbytes))

    def stream_create(self) -> Stream:
        self.calls.append(("stream_create",))
        return Stream(self, 0xABC, native="stream")

    def stream_synchronize(self, stream: Stream) -> None:
        self.calls.append(("sync",))

    def stream_destroy(self, stream: Stream) -> None:
        self.calls.append(("stream_destroy",))

    # CUDA graphs: work enqueued while capturing is recorded, not run; a launch replays it
    supports_graphs = True
    capturing = None

    def graph_capture_begin(self, stream: Stream) -> None:
        self.calls.append(("graph_capture_begin",))
        self.capturing = []

    def graph_capture_end(self, stream: Stream):
        graph, self.capturing = self.capturing, None
        self.calls.append(("graph_capture_end", len(graph)))
        return graph

    def graph_launch(self, graph, stream: Stream) -> None:
        self.calls.append(("graph_launch",))
        for work in graph:
            work()

    def graph_destroy(self, graph) -> None:
        self.calls.append(("graph_destroy",))

    def read(self, ptr: int, shape, dtype=np.float32) -> np.ndarray:
        """What a kernel (or TensorRT) would see at ``ptr``."""
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return self.memory[int(ptr)][:n].view(dtype).reshape(shape).copy()
