"""Which preprocessing a Recognizer runs: the OpenCV CPU path or the CUDA kernel, chosen once at construction.

Both take a list of (frame, boxes, margin) items. The CPU one returns the host batch; the CUDA one can also
``write`` straight into a GPU backend's own input buffer (``Backend.device_input``) on the backend's stream.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np

from ..card import ModelCard
from ..cuda.base import CudaError
from ..errors import InvalidInputError
from .opencv import preprocess

log = logging.getLogger(__name__)

CHOICES = ("auto", "cpu", "cuda")


class CpuPreprocessor:
    """``fer_edge.preprocess.preprocess`` (cv2.warpAffine per box) over the items."""

    name = "cpu"
    label = "cpu (OpenCV)"
    writes_device = False

    def __call__(self, items: Sequence, card: ModelCard) -> np.ndarray:
        parts = [preprocess(frame, boxes, card, margin=margin) for frame, boxes, margin in items]
        if not parts:
            return np.zeros((0,) + tuple(card.input_shape), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def close(self) -> None:
        return None


def device_input_supported(backend) -> bool:
    """The backend runs on the GPU and hands out its own input buffer (TensorRT; not ONNX Runtime's CUDA EP)."""
    return bool(backend.on_gpu) and backend.device_input(1) is not None


def create_preprocessor(choice: str, backend, device: int = 0):
    """The preprocessor for ``choice`` ("auto" | "cpu" | "cuda", or a preprocessor object) next to ``backend``.

    "auto" takes the CUDA kernel only where it pays: the backend takes device input (the batch then never
    leaves the GPU) and the kernel can run here; otherwise the CPU path, saying why at INFO. "cuda" insists
    and raises CudaError naming what is missing (no driver / no built library / no NVRTC).
    """
    if not isinstance(choice, str) and callable(choice) and hasattr(choice, "writes_device"):
        return choice  # a ready preprocessor object (e.g. a CudaPreprocessor on a chosen CUDA layer)
    if choice not in CHOICES:
        raise InvalidInputError(f"preprocess must be one of {CHOICES} or a preprocessor object, got {choice!r}")
    if choice == "cpu":
        return CpuPreprocessor()
    from . import cuda

    if choice == "auto" and not device_input_supported(backend):
        log.debug("preprocessing on the CPU: the %s backend takes host arrays", backend.name)
        return CpuPreprocessor()
    status = cuda.available()
    if not status:
        if choice == "auto":
            log.info("preprocessing on the CPU: the CUDA kernel cannot run here (%s)", status.reason)
            return CpuPreprocessor()
        raise CudaError(f"preprocess='cuda', but the CUDA kernel cannot run here: {status.reason}; "
                        "use preprocess='cpu' or 'auto'")
    api = _backend_cuda_api(backend)
    pre = cuda.CudaPreprocessor(api=api, device=device)
    log.info("preprocessing on the GPU: %s", pre.label)
    return pre


def _backend_cuda_api(backend) -> Optional[object]:
    """The GPU backend's own memory/stream layer (shares its context), or None to open one."""
    return getattr(backend, "cuda", None) if backend.on_gpu else None
