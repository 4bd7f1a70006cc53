"""Device memory and streams behind one small interface (cuda-python or pycuda), picked by availability or name.

``cuda_api()`` returns the first implementation that imports (cuda-python, then pycuda); ``cuda_api("pycuda")``
forces one. Nothing here imports a CUDA library until an implementation is asked for.
"""

from __future__ import annotations

from typing import Optional

from ..errors import InvalidInputError, MissingDependencyError
from .base import CudaApi, CudaError, DeviceBuffer, PinnedBuffer, Stream

__all__ = ["IMPLEMENTATIONS", "CudaApi", "CudaError", "DeviceBuffer", "PinnedBuffer", "Stream", "cuda_api",
           "gpu_count"]

#: name → (module, class); tried in this order by ``cuda_api()``.
IMPLEMENTATIONS = {
    "cuda-python": ("fer_edge.cuda.cuda_python", "CudaPythonApi"),
    "pycuda": ("fer_edge.cuda.pycuda_api", "PyCudaApi"),
}


def cuda_api(name: Optional[str] = None, device: int = 0) -> CudaApi:
    """The memory/stream layer.

    Args:
        name: "cuda-python", "pycuda", or None for the first that is installed (cuda-python first: NVIDIA's
            current choice; pycuda for JetPack images that carry it).
        device: CUDA device ordinal.

    Raises:
        MissingDependencyError: the requested (or every) implementation is not installed.
        CudaError: installed, but no usable driver or device.
    """
    import importlib

    if name is not None and name not in IMPLEMENTATIONS:
        raise InvalidInputError(f"unknown CUDA layer {name!r}; use one of {sorted(IMPLEMENTATIONS)} or None")
    names = [name] if name else list(IMPLEMENTATIONS)
    last: Optional[MissingDependencyError] = None
    for candidate in names:
        module_name, cls_name = IMPLEMENTATIONS[candidate]
        module = importlib.import_module(module_name)
        try:
            return getattr(module, cls_name)(device=device)
        except MissingDependencyError as exc:
            last = exc
    assert last is not None
    if name is None:
        raise MissingDependencyError("cuda-python", "cuda", "GPU buffers and streams (or install pycuda)") from last
    raise last


def gpu_count() -> int:
    """CUDA devices usable through this layer (cuda-python or pycuda); 0 without either, a driver or a GPU.

    How the runtime (and the test suite) asks "is there a GPU?" without torch: a Jetson image may carry pycuda
    and TensorRT but no torch.
    """
    try:
        api = cuda_api()
    except (MissingDependencyError, CudaError):
        return 0
    try:
        return int(api.device_count())
    finally:
        api.close()
