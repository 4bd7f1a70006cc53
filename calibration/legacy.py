"""Implicit INT8 calibrators for TensorRT 8.5–10 (``IInt8EntropyCalibrator2`` / ``IInt8MinMaxCalibrator``).

Deprecated in TensorRT 10.1 and removed in 11 (research/deploy.md §2.4); kept for JetPack 5 (TensorRT 8.5) and
DLA. Batches come from the same ``CalibrationSet`` as the Q/DQ path and reach the GPU through ``fer_edge.cuda``;
a cache file short-circuits calibration, and a cache written on a GPU-less machine (``ranges.py``) works with
``calib=None`` (the calibrator then only serves the cache).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List, Optional

import numpy as np

from fer_edge.backends.trt_differences import has_calibrators, import_tensorrt
from fer_edge.errors import InvalidInputError

from .cache import CalibrationCache, atomic_write_bytes, version_from_module

log = logging.getLogger(__name__)

#: algorithm name → (tensorrt base class, cache header algorithm)
ALGORITHMS = {
    "entropy2": ("IInt8EntropyCalibrator2", "EntropyCalibration2"),
    "minmax": ("IInt8MinMaxCalibrator", "MinMaxCalibration"),
}


def legacy_calibrator(
    calib: Any,
    cache_path,
    *,
    algorithm: str = "entropy2",
    batch_size: int = 8,
    trt: Any = None,
    cuda: Any = None,
):
    """Build a TensorRT INT8 calibrator for ``config.int8_calibrator`` (TensorRT ≤ 10 only).

    Args:
        calib: a ``CalibrationSet``, an (N, C, H, W) float32 array, or None to serve only ``cache_path``.
        cache_path: calibration cache file: read if present (calibration is skipped), written after calibration.
        algorithm: "entropy2" (``IInt8EntropyCalibrator2``, required for DLA) or "minmax".
        batch_size: samples per batch; only full batches are served (the trailing remainder is dropped).
        trt: the tensorrt module (default: ``import tensorrt``).
        cuda: a ``fer_edge.cuda.CudaApi`` (default: ``fer_edge.cuda.cuda_api()``), created on the first batch.

    Raises:
        InvalidInputError: TensorRT ≥ 11 (no calibrators), unknown algorithm, no data and no cache.
    """
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(f"calibration algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}")
    trt = trt if trt is not None else import_tensorrt("implicit INT8 calibration")
    base_name, header_algo = ALGORITHMS[algorithm]
    base = getattr(trt, base_name, None) if has_calibrators(trt) else None
    if base is None:
        raise InvalidInputError(
            f"TensorRT {getattr(trt, '__version__', '?')} has no {base_name}: implicit INT8 calibration was removed "
            "in TensorRT 11. Quantize to a Q/DQ ONNX instead (`fer-edge quantize MODEL.onnx --calib DATA "
            "--precision int8`) and build it strongly typed"
        )
    inputs = None
    if calib is not None:
        inputs = getattr(calib, "inputs", calib)
        inputs = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
        if inputs.ndim != 4:
            raise InvalidInputError(f"calibration inputs must be (N, C, H, W), got {inputs.shape}")
        if len(inputs) < batch_size:
            raise InvalidInputError(f"{len(inputs)} calibration samples are fewer than one batch of {batch_size}")
    cache_path = Path(cache_path)
    if inputs is None and not cache_path.is_file():
        raise InvalidInputError(f"no calibration data and no cache at {cache_path}; pass a calibration set or write "
                                "a cache with fer_edge.calibration.ranges.calibration_cache_from_onnx")
    trt_version = version_from_module(trt)

    class FerEdgeCalibrator(base):  # type: ignore[misc, valid-type]
        """Serves calibration batches in order from device memory; reads/writes the cache file."""

        def __init__(self) -> None:
            base.__init__(self)
            self.inputs = inputs
            self.batch_size = int(batch_size)
            self.cache_path = cache_path
            self.served = 0  # batches handed to TensorRT
            self._cuda = cuda
            self._device = None
            self._host = None
            self._stream = None

        # --- TensorRT callbacks -------------------------------------------------------------
        def get_batch_size(self) -> int:
            return self.batch_size

        def get_batch(self, names: List[str], *args) -> Optional[List[int]]:
            if self.inputs is None:
                return None
            start = self.served * self.batch_size
            if start + self.batch_size > len(self.inputs):
                return None
            if len(names) != 1:
                raise InvalidInputError(f"the calibrator feeds one input; the network has {list(names)}")
            batch = self.inputs[start : start + self.batch_size]
            if self._device is None:
                self._open(batch)
            self._host.array[...] = batch
            self._cuda.memcpy_htod_async(self._device.ptr, self._host.array, self._stream)
            self._stream.synchronize()
            self.served += 1
            return [int(self._device.ptr)]

        def read_calibration_cache(self) -> Optional[bytes]:
            if not self.cache_path.is_file():
                return None
            data = self.cache_path.read_bytes()
            try:
                cache = CalibrationCache.from_bytes(data)
            except InvalidInputError as exc:
                log.warning("ignoring unreadable calibration cache %s (%s); calibrating again", self.cache_path, exc)
                return None
            if trt_version and cache.version != trt_version:
                log.warning("calibration cache %s was written for TensorRT %s, this is %s; TensorRT may ignore it",
                            self.cache_path, ".".join(map(str, cache.version)), ".".join(map(str, trt_version)))
            if cache.algorithm != header_algo:
                log.warning("calibration cache %s is %s but the calibrator is %s", self.cache_path,
                            cache.algorithm, header_algo)
            log.info("using calibration cache %s (%d tensors)", self.cache_path, len(cache.scales))
            return data

        def write_calibration_cache(self, cache) -> None:
            atomic_write_bytes(self.cache_path, bytes(cache))
            log.info("wrote calibration cache %s", self.cache_path)

        # --- resources ------------------------------------------------------------------------
        def _open(self, batch: np.ndarray) -> None:
            if self._cuda is None:
                from fer_edge.cuda import cuda_api

                self._cuda = cuda_api()
            self._host = self._cuda.pinned_empty(batch.shape, np.float32)
            self._device = self._cuda.malloc(batch.nbytes)
            self._stream = self._cuda.stream_create()

        def close(self) -> None:
            """Free the device/pinned buffers and the stream (idempotent)."""
            for res in (self._device, self._host):
                if res is not None:
                    res.free()
            if self._stream is not None:
                self._stream.close()
            self._device = self._host = self._stream = None

        def __del__(self) -> None:
            try:
                self.close()
            except Exception:  # interpreter shutdown
                pass

    return FerEdgeCalibrator()
