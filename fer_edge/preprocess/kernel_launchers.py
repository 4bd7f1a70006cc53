"""Two ways to run the one preprocessing kernel: a shared library (ctypes) or an NVRTC compile at run time.

``SharedLibraryKernel`` loads ``libfer_edge_preproc.so`` (nvcc build, device pointers) or the g++ host build
(host pointers) and calls ``fer_preprocess``. ``NvrtcKernel`` compiles ``preprocess.cu`` for this GPU's compute
capability through cuda-python's NVRTC bindings (cached per capability and source digest) and launches it with
the driver API on the caller's stream, with the launcher's argument checks done in Python.
"""

from __future__ import annotations

import ctypes
import logging
import os
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .._optional import require
from ..cuda.base import CudaError
from ..errors import ModelFormatError
from . import kernel_abi as abi
from . import kernel_sources

log = logging.getLogger(__name__)

KERNEL_NAME = "fer_preprocess_kernel"


class SharedLibraryKernel:
    """``fer_preprocess`` from a built library; ``device`` says whether it takes device pointers."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            lib = ctypes.CDLL(str(self.path))
        except OSError as exc:
            raise ModelFormatError(f"cannot load the preprocessing library {self.path}: {exc}; rebuild it with "
                                   "`make cpp_ext`") from exc
        version = lib.fer_preprocess_abi_version()
        if version != abi.ABI_VERSION:
            raise ModelFormatError(f"{self.path} has kernel ABI {version}, this fer_edge needs {abi.ABI_VERSION}; "
                                   "rebuild it with `make cpp_ext`")
        lib.fer_preprocess.restype = ctypes.c_int
        lib.fer_preprocess.argtypes = [ctypes.POINTER(abi.FerPreprocessConfig), ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        lib.fer_preprocess_status_string.restype = ctypes.c_char_p
        self.lib = lib
        self.device = bool(lib.fer_preprocess_is_device_build())
        self.label = f"{'cuda' if self.device else 'host'} library {self.path.name}"

    def launch_params_size(self) -> int:
        return int(self.lib.fer_preprocess_launch_params_size())

    def status_string(self, code: int) -> str:
        return self.lib.fer_preprocess_status_string(int(code)).decode()

    def launch(self, cfg: abi.FerPreprocessConfig, src: int, src_uv: int, boxes: np.ndarray, out: int,
               stream: int = 0) -> None:
        """Queue (device build) or run (host build) one frame's boxes; raises the typed error for a bad status."""
        boxes = np.ascontiguousarray(boxes, dtype=np.float32).reshape(-1, 4)
        code = self.lib.fer_preprocess(ctypes.byref(cfg), src or None, src_uv or None,
                                       boxes.ctypes.data if boxes.size else None, boxes.shape[0], out or None,
                                       stream or None)
        abi.check_status(code, self.label)


def nvrtc_arch_options(capability: Tuple[int, int], supported) -> Tuple[str, str]:
    """(``--gpu-architecture`` value, "cubin"|"ptx"): a cubin for this GPU when NVRTC knows its SM, else PTX of
    the newest SM it knows below the GPU (the driver JIT-compiles it)."""
    sm = capability[0] * 10 + capability[1]
    known = sorted(int(a) for a in supported)
    if sm in known:
        return f"sm_{sm}", "cubin"
    lower = [a for a in known if a <= sm]
    if not lower:
        raise CudaError(f"this NVRTC cannot target compute capability {capability[0]}.{capability[1]} "
                        f"(it knows sm_{known[0]}..sm_{known[-1]}); build the kernel on the device (cpp_ext/README.md)")
    return f"compute_{lower[-1]}", "ptx"


def nvrtc_compile(arch: str, output: str = "cubin", root: Optional[Path] = None) -> bytes:
    """Compile ``preprocess.cu`` with NVRTC for ``arch`` (``sm_87`` → cubin, ``compute_75`` → PTX). No GPU needed."""
    nvrtc = require("cuda.bindings.nvrtc", "cuda", "compiling the preprocessing kernel at run time (NVRTC)")
    root = kernel_sources.kernel_root() if root is None else root
    path = kernel_sources.kernel_path(root)

    def check(result, what):
        err = result[0] if isinstance(result, tuple) else result
        if int(err) != 0:
            raise CudaError(f"NVRTC {what} failed: {nvrtc.nvrtcGetErrorString(err)[1].decode()}")
        return result[1:] if isinstance(result, tuple) else ()

    (prog,) = check(nvrtc.nvrtcCreateProgram(path.read_bytes(), path.name.encode(), 0, [], []), "create")
    try:
        opts = [f"--gpu-architecture={arch}".encode(), b"--std=c++11", b"--fmad=false",
                *(f"-I{d}".encode() for d in kernel_sources.include_dirs(root))]
        err = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)[0]
        if int(err) != 0:
            (size,) = check(nvrtc.nvrtcGetProgramLogSize(prog), "log size")
            text = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, text)
            raise CudaError(f"NVRTC could not compile {path} for {arch}:\n{text.decode(errors='replace')}")
        get_size, get = ((nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN) if output == "cubin"
                         else (nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX))
        (size,) = check(get_size(prog), "size")
        blob = b" " * size
        check(get(prog, blob), "result")
        return blob
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def nvrtc_status() -> Tuple[bool, str]:
    """(usable, why not): cuda-python's NVRTC bindings import and the NVRTC library loads."""
    try:
        nvrtc = require("cuda.bindings.nvrtc", "cuda", "NVRTC")
        err, major, minor = nvrtc.nvrtcVersion()
        return int(err) == 0, f"NVRTC {major}.{minor}"
    except Exception as exc:  # missing module, or the bindings cannot find libnvrtc
        return False, f"no NVRTC ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


class NvrtcKernel:
    """The kernel compiled at run time for ``device``; launches go on the caller's stream (device pointers)."""

    device = True

    def __init__(self, device: int = 0, cache: Optional[Path] = None):
        self._drv = require("cuda.bindings.driver", "cuda", "launching the preprocessing kernel")
        nvrtc = require("cuda.bindings.nvrtc", "cuda", "compiling the preprocessing kernel at run time (NVRTC)")
        self._call(self._drv.cuInit(0))
        dev = self._call(self._drv.cuDeviceGet(int(device)))
        attr = self._drv.CUdevice_attribute
        capability = (int(self._call(self._drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                                                     dev))),
                      int(self._call(self._drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                                                     dev))))
        ctx = self._call(self._drv.cuDevicePrimaryCtxRetain(dev))  # the context runtime-API users share
        self._device, self._module = dev, None
        self._call(self._drv.cuCtxSetCurrent(ctx))
        arch, output = nvrtc_arch_options(capability, self._call(nvrtc.nvrtcGetSupportedArchs()))
        image = self._cached_image(arch, output, kernel_sources.cache_dir() if cache is None else Path(cache))
        self._module = self._call(self._drv.cuModuleLoadData(image))
        self._function = self._call(self._drv.cuModuleGetFunction(self._module, KERNEL_NAME.encode()))
        self.capability, self.arch = capability, arch
        self.label = f"NVRTC {arch} ({output})"

    def _call(self, result):
        err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if int(err) != 0:
            raise CudaError(f"CUDA driver error {getattr(err, 'name', err)} ({int(err)}) in the NVRTC kernel path; "
                            "check the driver (nvidia-smi)")
        return values[0] if len(values) == 1 else (values or None)

    @staticmethod
    def _cached_image(arch: str, output: str, folder: Path) -> bytes:
        name = f"preprocess-{arch}-{kernel_sources.source_digest()[:16]}.{output}"
        path = folder / name
        if path.is_file():
            return path.read_bytes()
        image = nvrtc_compile(arch, output)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=name, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(image)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only home still gets a working kernel, just no cache
            log.warning("cannot cache the compiled preprocessing kernel in %s: %s", folder, exc)
        return image

    def close(self) -> None:
        """Unload the module and drop the primary-context reference taken at load (idempotent)."""
        if self._module is not None:
            module, self._module = self._module, None
            self._drv.cuModuleUnload(module)
            self._drv.cuDevicePrimaryCtxRelease(self._device)

    def launch(self, cfg: abi.FerPreprocessConfig, src: int, src_uv: int, boxes: np.ndarray, out: int,
               stream: int = 0) -> None:
        if self._module is None:
            raise CudaError("the NVRTC preprocessing kernel was closed")
        boxes = np.ascontiguousarray(boxes, dtype=np.float32).reshape(-1, 4)
        abi.check_status(abi.validate_launch(cfg, src, src_uv, boxes, out), self.label)
        step = abi.bytes_per_box(cfg)
        for first in range(0, boxes.shape[0], abi.MAX_BOXES_PER_LAUNCH):
            chunk = boxes[first : first + abi.MAX_BOXES_PER_LAUNCH]
            params = abi.launch_params(cfg, src, src_uv, chunk, out + first * step)
            args = (ctypes.c_void_p * 1)(ctypes.addressof(params))
            grid = (-(-cfg.out_width // abi.BLOCK[0]), -(-cfg.out_height // abi.BLOCK[1]), chunk.shape[0])
            self._call(self._drv.cuLaunchKernel(self._function, *grid, abi.BLOCK[0], abi.BLOCK[1], 1, 0,
                                                int(stream), ctypes.addressof(args), 0))
