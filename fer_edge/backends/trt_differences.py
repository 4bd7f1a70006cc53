"""Every difference between the TensorRT lines fer_edge supports (8.5, 10.x, 11.x), one function per difference.

The rest of the code asks these questions instead of comparing version numbers (research/deploy.md §2.1; names
checked against NVIDIA's bindings in research/trt_api/). Nothing here imports tensorrt: callers pass the module.

- I/O: named tensors (``num_io_tensors``/``set_tensor_address``/``execute_async_v3``, from 8.5) vs binding
  indices (``execute_async_v2``; gone in 10.0).
- Typing: ``STRONGLY_TYPED`` network flag from 10.0; 11.x is strongly typed only (no ``BuilderFlag.FP16/INT8``).
- Implicit INT8: ``IInt8EntropyCalibrator2`` and ``config.int8_calibrator`` up to 10.x, removed in 11.0.
- ``EXPLICIT_BATCH``: required on 8.x, default (deprecated) on 10.x, absent on 11.x.
- Workspace: ``set_memory_pool_limit`` (8.4+) vs ``max_workspace_size`` (older, gone in 10.0).
- Version-compatible engines: ``BuilderFlag.VERSION_COMPATIBLE`` from 8.6.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Tuple

from ..errors import FerEdgeError, InvalidInputError, MissingDependencyError

log = logging.getLogger(__name__)

Version = Tuple[int, int, int]

#: what to install where tensorrt is missing
INSTALL_HINT = ("desktop: pip install 'fer-edge[trt]'; Jetson: TensorRT comes with JetPack (apt package "
                "python3-libnvinfer) — create the venv with --system-site-packages so it is visible")


def import_tensorrt(purpose: str = "running TensorRT engines") -> Any:
    """``import tensorrt``, or MissingDependencyError naming the pip extra and the JetPack package.

    Only a missing ``tensorrt`` module becomes MissingDependencyError. A tensorrt that is installed but fails to
    import (wrong CUDA, missing libnvinfer) raises FerEdgeError carrying TensorRT's own message, since installing
    the extra would not help.
    """
    try:
        import tensorrt
    except ModuleNotFoundError as exc:
        if exc.name in (None, "tensorrt"):
            jetson = "On a Jetson: " + INSTALL_HINT.split("; ", 1)[1]
            raise MissingDependencyError("tensorrt", "trt", purpose, hint=jetson) from exc
        raise FerEdgeError(f"tensorrt is installed but cannot be imported ({exc}); reinstall it so its libraries "
                           "match (pip: the tensorrt-cuXX-libs wheel of the same version; Jetson: JetPack's "
                           "python3-libnvinfer)") from exc
    except (ImportError, OSError) as exc:
        raise FerEdgeError(f"tensorrt is installed but cannot be imported ({exc}); check that its CUDA version "
                           "matches the driver (nvidia-smi) and that libnvinfer is on the library path") from exc
    return tensorrt


def trt_version(trt) -> Version:
    """(major, minor, patch) of a tensorrt module (``__version__`` "10.13.0.35" → (10, 13, 0))."""
    text = str(getattr(trt, "__version__", ""))
    try:
        nums = [int(p) for p in text.split(".")[:3]]
    except ValueError:
        nums = []
    if not nums:
        raise InvalidInputError(f"cannot read the TensorRT version from {text!r}")
    return tuple((nums + [0, 0, 0])[:3])


def version_text(trt) -> str:
    return ".".join(map(str, trt_version(trt)))


# ---------------------------------------------------------------------------------------------- typing / precision
def has_strongly_typed(trt) -> bool:
    """The ``STRONGLY_TYPED`` network flag exists (TensorRT ≥ 10)."""
    return hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")


def strongly_typed_only(trt) -> bool:
    """Precision comes only from the ONNX (TensorRT ≥ 11: no ``BuilderFlag.FP16``/``INT8``)."""
    return not hasattr(trt.BuilderFlag, "FP16")


def has_calibrators(trt) -> bool:
    """Implicit INT8 (``IInt8EntropyCalibrator2`` + ``config.int8_calibrator``) exists (TensorRT ≤ 10)."""
    return hasattr(trt, "IInt8EntropyCalibrator2") and hasattr(trt.BuilderFlag, "INT8")


def has_version_compatible(trt) -> bool:
    """``BuilderFlag.VERSION_COMPATIBLE`` exists (TensorRT ≥ 8.6)."""
    return hasattr(trt.BuilderFlag, "VERSION_COMPATIBLE")


#: INT8 recipes per TensorRT major line, for tools that plan without tensorrt installed (engines/targets.py)
INT8_RECIPES_BY_MAJOR = {8: ("qdq", "calibrator"), 10: ("qdq", "calibrator"), 11: ("qdq",)}


def int8_recipes(trt) -> Tuple[str, ...]:
    """INT8 recipes a version builds: "qdq" (explicit Q/DQ ONNX) everywhere, "calibrator" up to 10.x."""
    return ("qdq", "calibrator") if has_calibrators(trt) else ("qdq",)


def has_progress_monitor(trt) -> bool:
    """``IProgressMonitor`` + ``config.progress_monitor`` exist (TensorRT ≥ 10.0; 8.x builds report nothing)."""
    return hasattr(trt, "IProgressMonitor")


def network_flags(trt, strongly_typed: bool) -> int:
    """The ``create_network`` flags: EXPLICIT_BATCH where it must be set (8.x), STRONGLY_TYPED when asked."""
    flags = 0
    names = trt.NetworkDefinitionCreationFlag
    if not has_strongly_typed(trt) and hasattr(names, "EXPLICIT_BATCH"):
        flags |= 1 << int(names.EXPLICIT_BATCH)  # 8.x: implicit batch is the default otherwise
    if strongly_typed:
        if not has_strongly_typed(trt):
            raise InvalidInputError(
                f"TensorRT {version_text(trt)} has no strongly typed networks (added in 10.0); build with "
                "precision flags instead (--precision fp16/int8)")
        flags |= 1 << int(names.STRONGLY_TYPED)
    return flags


def set_workspace(trt, config, nbytes: int) -> None:
    """Cap the builder's scratch memory (``set_memory_pool_limit`` where it exists, else ``max_workspace_size``)."""
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))
    else:  # TensorRT < 8.4
        config.max_workspace_size = int(nbytes)


def fast_int8(builder) -> Optional[bool]:
    """``builder.platform_has_fast_int8`` where the version still has it (≤ 10), else None (ask the GPU)."""
    value = getattr(builder, "platform_has_fast_int8", None)
    return None if value is None else bool(value)


def gpu_has_int8(compute_capability: Tuple[int, int]) -> bool:
    """INT8 tensor math by compute capability: none on Maxwell (5.x, Jetson Nano), GP100 (6.0) or TX2 (6.2)."""
    major, minor = compute_capability
    return not (major < 6 or (major, minor) in ((6, 0), (6, 2)))


# ------------------------------------------------------------------------------------------------------- runtime
def uses_named_tensors(context) -> bool:
    """Named-tensor I/O (``set_tensor_address`` + ``execute_async_v3``, TensorRT ≥ 8.5) vs binding indices."""
    return hasattr(context, "execute_async_v3") and hasattr(context, "set_tensor_address")


def io_tensors(trt, engine):
    """[(name, is_input)] of an engine, through named tensors or the binding API."""
    if hasattr(engine, "num_io_tensors"):
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        return [(n, engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT) for n in names]
    return [(engine.get_binding_name(i), bool(engine.binding_is_input(i))) for i in range(engine.num_bindings)]


def set_input_shape(context, engine, name: str, index: int, shape) -> bool:
    """``set_input_shape`` (≥ 8.5) or ``set_binding_shape`` (older)."""
    if hasattr(context, "set_input_shape"):
        return bool(context.set_input_shape(name, tuple(shape)))
    return bool(context.set_binding_shape(index, tuple(shape)))


def enqueue(context, addresses, stream: int) -> bool:
    """Enqueue one inference on ``stream``: ``execute_async_v3`` (addresses set beforehand) or ``execute_async_v2``.

    Args:
        addresses: device pointers in I/O order (used by the binding API only).
    """
    if uses_named_tensors(context):
        return bool(context.execute_async_v3(stream_handle=int(stream)))
    return bool(context.execute_async_v2(bindings=[int(a) for a in addresses], stream_handle=int(stream)))


def engine_runs_on(built: Version, built_version_compatible: bool, runtime: Version) -> bool:
    """Whether an engine built by TensorRT ``built`` loads in runtime ``runtime``.

    Plain engines need the same major.minor.patch; a version-compatible engine also loads in a newer runtime of
    the same or next major line (8.6 VC → 10.x, 10.x VC → 11.x; never 8 → 11).
    """
    if built == runtime:
        return True
    if not built_version_compatible or runtime < built:
        return False
    next_major = {8: 10, 10: 11}.get(built[0], built[0] + 1)
    return runtime[0] in (built[0], next_major)


def engine_device_memory(engine) -> Optional[int]:
    """Device memory an execution context needs: ``device_memory_size_v2`` (10.x+) or ``device_memory_size``."""
    for name in ("device_memory_size_v2", "device_memory_size"):
        value = getattr(engine, name, None)
        if value is not None:
            return int(value)
    return None
