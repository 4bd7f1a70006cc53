"""The CUDA preprocessing path: the ``cpp_ext`` kernel driven through ``fer_edge.cuda`` buffers and streams.

The frame goes up once as uint8; one kernel launch per frame crops, squares, resizes, converts and normalises
all its face boxes straight into the destination: a TensorRT engine's own input buffer on the engine's stream
(``write``; then the engine runs, and only logits come back), or a device buffer copied back for host backends
(``__call__``). The kernel comes from ``fer_edge/_lib/libfer_edge_preproc.so`` (``make cpp_ext``) when built,
otherwise from an NVRTC compile of the shipped source. ``available()`` says which, or why neither works.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..card import ModelCard
from ..cuda.base import CudaApi, CudaError, DeviceBuffer, Stream
from ..errors import FerEdgeError, InvalidInputError
from . import kernel_abi as abi
from . import kernel_sources
from .frame_layout import FrameLayout, frame_layout
from .inputs import resolve_boxes

log = logging.getLogger(__name__)

LIBRARY_ENV = "FER_EDGE_PREPROC_LIB"  # overrides the library path (e.g. a build on the device)

#: (frame, boxes or None, margin or None): one frame's work, as Recognizer hands it over.
WorkItem = Tuple[object, Optional[np.ndarray], Optional[float]]


@dataclass(frozen=True)
class KernelAvailability:
    """Whether the CUDA kernel can run here; ``source`` is "library" or "nvrtc", ``reason`` says why (not)."""

    ok: bool
    source: str
    reason: str

    def __bool__(self) -> bool:
        return self.ok


def library_path() -> Optional[str]:
    """The device-build library to load: ``$FER_EDGE_PREPROC_LIB`` or ``fer_edge/_lib/``; None when absent."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return env
    path = kernel_sources.library_dir() / kernel_sources.LIBRARY_NAME
    return str(path) if path.is_file() else None


def _driver_status() -> Tuple[bool, str]:
    try:
        from cuda.bindings import driver
    except ImportError:
        return False, "no cuda-python (pip install 'fer-edge[cuda]')"
    try:
        err = driver.cuInit(0)[0]
        if int(err) != 0:
            return False, f"no CUDA driver ({getattr(err, 'name', err)})"
        err, count = driver.cuDeviceGetCount()
        if int(err) != 0 or count == 0:
            return False, "no CUDA device visible"
        return True, f"{count} CUDA device(s)"
    except Exception as exc:  # cuda-python raises when libcuda itself is missing
        return False, f"no CUDA driver ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"


def available() -> KernelAvailability:
    """Can the kernel run here, and through what? Reasons: no driver / no .so / no NVRTC."""
    from .kernel_launchers import nvrtc_status

    ok, driver = _driver_status()
    if not ok:
        return KernelAvailability(False, "", driver)
    lib = library_path()
    if lib is not None:
        return KernelAvailability(True, "library", f"{driver}; library {lib}")
    nvrtc_ok, nvrtc = nvrtc_status()
    if nvrtc_ok:
        return KernelAvailability(True, "nvrtc", f"{driver}; no built library (make cpp_ext), compiling with {nvrtc}")
    return KernelAvailability(False, "", f"{driver}; no built library (make cpp_ext) and {nvrtc}")


def load_kernel(device: int = 0):
    """The kernel for ``device``: the built library if present, else the NVRTC compile (raises if neither)."""
    from .kernel_launchers import NvrtcKernel, SharedLibraryKernel

    status = available()
    if not status:
        raise CudaError(f"the CUDA preprocessing kernel cannot run here: {status.reason}; use preprocess='cpu'")
    if status.source == "library":
        kernel = SharedLibraryKernel(library_path())
        if not kernel.device:
            raise CudaError(f"{kernel.path} is the host build; point {LIBRARY_ENV} at the nvcc build")
        return kernel
    return NvrtcKernel(device=device)


class CudaPreprocessor:
    """Preprocessing on the GPU. ``write`` fills a device destination; calling it returns a host batch.

    Args:
        api: the memory/stream layer (``fer_edge.cuda.cuda_api()`` by default).
        kernel: an object with ``launch(cfg, src, src_uv, boxes, out, stream)`` taking device pointers
            (``load_kernel()`` by default).
    """

    name = "cuda"
    writes_device = True

    def __init__(self, api: Optional[CudaApi] = None, kernel=None, device: int = 0):
        if api is None:
            from ..cuda import cuda_api

            api = cuda_api(device=device)
        self.api = api
        self._owns_kernel = kernel is None
        self.kernel = load_kernel(device) if kernel is None else kernel
        self._buffers: dict = {}
        self._stream: Optional[Stream] = None
        self._lock = threading.RLock()  # one frame set at a time: the upload buffers are reused
        self.label = f"cuda ({getattr(self.kernel, 'label', type(self.kernel).__name__)})"

    # ------------------------------------------------------------------ device destination
    def write(self, items: Sequence[WorkItem], card: ModelCard, out_ptr: int, dtype, stream: int) -> int:
        """Preprocess every item's boxes into consecutive rows at ``out_ptr`` (device) on ``stream``.

        The frames go up on this object's own stream (each into its own buffer; one wait for all of them, so a
        raw stream handle from any CUDA layer works), then one launch per frame is queued on ``stream``; nothing
        waits for those (the consumer queued next on ``stream`` runs after them). Returns the rows written. The
        previous call's consumer must have finished (Recognizer's ``infer_device`` returns host results).
        """
        with self._lock:
            return self._write(items, card, out_ptr, dtype, stream)

    def _write(self, items: Sequence[WorkItem], card: ModelCard, out_ptr: int, dtype, stream: int) -> int:
        jobs = []
        for frame, boxes, margin in items:
            layout = frame_layout(frame)
            boxes, margin = resolve_boxes(layout.pixels, boxes, card.crop_margin, margin)
            if boxes.shape[0]:
                jobs.append((layout, boxes, margin))
        own = self._own_stream()
        uploaded = [self._upload(layout, own, slot) for slot, (layout, _, _) in enumerate(jobs)]
        own.synchronize()
        rows = 0
        row_bytes = int(np.prod(card.input_shape)) * np.dtype(dtype).itemsize
        for (_, boxes, margin), (src, src_uv, layout) in zip(jobs, uploaded):
            cfg = abi.make_config(card, layout.format, layout.width, layout.height, layout.pitch, layout.uv_pitch,
                                  margin, dtype)
            self.kernel.launch(cfg, src, src_uv, boxes, int(out_ptr) + rows * row_bytes, int(stream or 0))
            rows += boxes.shape[0]
        return rows

    def rows(self, items: Sequence[WorkItem]) -> List[int]:
        """Rows each item produces (its box count), validating frames and boxes like the CPU path."""
        counts = []
        for frame, boxes, margin in items:
            layout = frame_layout(frame)
            counts.append(int(resolve_boxes(layout.pixels, boxes, 1.0, margin)[0].shape[0]))
        return counts

    def _buffer(self, key: str, nbytes: int) -> DeviceBuffer:
        buf = self._buffers.get(key)
        if buf is None or buf.nbytes < nbytes:
            if buf is not None:
                buf.free()  # its last reader finished: the previous write's consumer returned
            buf = self.api.malloc(max(int(nbytes), 1))
            self._buffers[key] = buf
        return buf

    def _upload(self, layout: FrameLayout, stream: Stream, slot: int) -> Tuple[int, int, FrameLayout]:
        layout = layout.contiguous()
        pixels = self._buffer(f"pixels{slot}", layout.pixels.nbytes)
        self.api.memcpy_htod_async(pixels.ptr, layout.pixels, stream)
        if layout.uv is None:
            return pixels.ptr, 0, layout
        uv = self._buffer(f"uv{slot}", layout.uv.nbytes)
        self.api.memcpy_htod_async(uv.ptr, layout.uv, stream)
        return pixels.ptr, uv.ptr, layout

    def _own_stream(self) -> Stream:
        if self._stream is None:
            self._stream = self.api.stream_create()
        return self._stream

    # ------------------------------------------------------------------ host destination
    def __call__(self, items: Sequence[WorkItem], card: ModelCard) -> np.ndarray:
        """The (N, C, H, W) float32 batch on the host: kernel into a device buffer, one copy back."""
        n = sum(self.rows(items))
        batch = np.empty((n,) + tuple(card.input_shape), dtype=np.float32)
        if n == 0:
            return batch
        with self._lock:
            stream = self._own_stream()
            out = self._buffer("out", batch.nbytes)
            written = self._write(items, card, out.ptr, np.float32, stream.handle)
            if written != n:
                raise FerEdgeError(f"the CUDA preprocessor wrote {written} rows, expected {n}")
            self.api.memcpy_dtoh_async(batch, out.ptr, stream)
            stream.synchronize()
        return batch

    def close(self) -> None:
        """Free the device buffers and the stream (idempotent)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.synchronize()
            finally:
                self._stream.close()
                self._stream = None
        for buf in self._buffers.values():
            buf.free()
        self._buffers.clear()
        if self._owns_kernel and hasattr(self.kernel, "close"):
            self.kernel.close()


def preprocess_cuda(frame, boxes, card: ModelCard, *, margin: Optional[float] = None,
                    preprocessor: Optional[CudaPreprocessor] = None) -> np.ndarray:
    """``preprocess()``'s signature on the GPU (host result); for one-off use and tests."""
    own = preprocessor is None
    pre = CudaPreprocessor() if own else preprocessor
    try:
        return pre([(frame, boxes, margin)], card)
    finally:
        if own:
            pre.close()


def preprocess_with_host_kernel(kernel, frame, boxes, card: ModelCard, *, margin: Optional[float] = None,
                                out_dtype=np.float32) -> np.ndarray:
    """Run the kernel's host build (``SharedLibraryKernel`` of the g++ library) on a numpy frame or Nv12Frame.

    Same arguments and result as ``preprocess()``, plus float16 output: this is how CI checks the kernel's own
    per-pixel code against ``preprocess_reference`` without a GPU.
    """
    if getattr(kernel, "device", False):
        raise FerEdgeError("preprocess_with_host_kernel needs the host build; the device build takes device pointers")
    layout = frame_layout(frame)
    boxes, margin = resolve_boxes(layout.pixels, boxes, card.crop_margin, margin)
    dtype = abi.output_dtype(out_dtype)
    out = np.zeros((boxes.shape[0],) + tuple(card.input_shape), dtype=dtype)
    if boxes.shape[0] == 0:
        return out
    if layout.format not in abi.SOURCE_FORMATS:
        raise InvalidInputError(f"unknown frame format {layout.format}")
    cfg = abi.make_config(card, layout.format, layout.width, layout.height, layout.pitch, layout.uv_pitch, margin,
                          dtype)
    uv = 0 if layout.uv is None else layout.uv.ctypes.data
    kernel.launch(cfg, layout.pixels.ctypes.data, uv, boxes, out.ctypes.data, 0)
    return out
