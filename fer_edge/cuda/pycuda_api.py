"""pycuda implementation (JetPack images that carry it), on the device's primary context, never ``pycuda.autoinit``.

``pycuda.autoinit`` creates a separate context that clashes with runtime-API users (TensorRT, torch, our kernel);
retaining the primary context shares theirs (research/deploy.md §4).
"""

from __future__ import annotations

import atexit
import logging
from typing import Tuple

import numpy as np

from .._optional import require
from .base import CudaApi, CudaError, DeviceBuffer, PinnedBuffer, Stream, host_pointer

log = logging.getLogger(__name__)


class PyCudaApi(CudaApi):
    """The memory/stream layer over ``pycuda.driver`` with the retained primary context pushed on this thread."""

    name = "pycuda"

    def __init__(self, device: int = 0):
        self._drv = require("pycuda.driver", "pycuda", "GPU buffers and streams through pycuda")
        try:
            self._drv.init()
            count = self._drv.Device.count()
            if not 0 <= int(device) < count:
                raise CudaError(f"CUDA device {device} does not exist ({count} device(s) visible)")
            self._ctx = self._drv.Device(int(device)).retain_primary_context()
            self._ctx.push()
        except self._drv.Error as exc:
            raise CudaError(f"pycuda cannot initialise CUDA: {exc}; check the driver (nvidia-smi)") from exc
        self.device = int(device)
        atexit.register(self.close)

    def close(self) -> None:
        """Pop the primary context this object pushed (once, on the thread that created it) and drop our retain."""
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        atexit.unregister(self.close)
        try:
            ctx.pop()
        except self._drv.Error as exc:  # popped by someone else, or the driver is shutting down
            log.debug("pycuda context pop failed: %s", exc)

    def device_count(self) -> int:
        return int(self._drv.Device.count())

    def device_properties(self) -> Tuple[str, Tuple[int, int]]:
        dev = self._drv.Device(self.device)
        major, minor = dev.compute_capability()
        return str(dev.name()).strip(), (int(major), int(minor))

    def malloc(self, nbytes: int) -> DeviceBuffer:
        alloc = self._drv.mem_alloc(max(int(nbytes), 1))
        return DeviceBuffer(self, int(alloc), nbytes, native=alloc)

    def free(self, buf: DeviceBuffer) -> None:
        if buf.native is not None:
            buf.native.free()

    def pinned_empty(self, shape: Tuple[int, ...], dtype=np.float32) -> PinnedBuffer:
        array = self._drv.pagelocked_empty(tuple(shape), np.dtype(dtype))
        return PinnedBuffer(self, array, int(array.ctypes.data), native=array)

    def free_pinned(self, buf: PinnedBuffer) -> None:
        base = getattr(buf.native, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()

    def memcpy_htod_async(self, dst: int, src: np.ndarray, stream: Stream) -> None:
        host_pointer(src)
        self._drv.memcpy_htod_async(int(dst), src, stream.native)

    def memcpy_dtoh_async(self, dst: np.ndarray, src: int, stream: Stream) -> None:
        host_pointer(dst, True)
        self._drv.memcpy_dtoh_async(dst, int(src), stream.native)

    def stream_create(self) -> Stream:
        native = self._drv.Stream()
        return Stream(self, int(native.handle), native)

    def stream_synchronize(self, stream: Stream) -> None:
        stream.native.synchronize()

    def stream_destroy(self, stream: Stream) -> None:
        stream.native = None
