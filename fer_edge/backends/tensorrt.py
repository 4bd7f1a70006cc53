"""TensorRT backend: runs a serialized engine checked against its sidecar, on one CUDA stream.

Host path: pinned input → H2D → enqueue → D2H → one synchronize. Device path: a producer (the CUDA preprocessing
kernel) writes into ``device_input(n)`` on ``stream``, then ``infer_device(n)``. Buffers are allocated once at the
profile's max batch; ``clone()`` gives a second execution context (own stream and buffers) on the same engine.
Version differences (named tensors vs bindings...) live in ``trt_differences``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..card import ModelCard
from ..errors import EngineMismatchError, FerEdgeError, InvalidInputError, ModelFormatError
from . import trt_differences as diff
from .base import Backend, BackendOptions, DeviceView, check_device_batch
from .engine_card import EngineCard

log = logging.getLogger(__name__)


def make_logger(trt):
    """A ``trt.ILogger`` that forwards to ``logging`` and keeps the messages (for error texts)."""

    class _Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: List[str] = []

        def log(self, severity, msg):
            self.messages.append(str(msg))
            level = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}.get(
                int(severity), logging.DEBUG)
            log.log(level, "TensorRT: %s", msg)

    return _Logger()


def gpu_identity(cuda) -> tuple:
    """(name, "major.minor") of the current GPU, from the CUDA layer."""
    name, (major, minor) = cuda.device_properties()
    return name, f"{major}.{minor}"


def _open_cuda(options: BackendOptions, cuda):
    if cuda is not None:
        return cuda
    from ..cuda import cuda_api

    return cuda_api(None if options.cuda == "auto" else options.cuda, device=options.device)


class _Engine:
    """What every execution context on one engine shares (runtime, engine, sidecar, CUDA layer)."""

    def __init__(self, path: Path, sidecar: EngineCard, trt, cuda, runtime, engine, logger):
        self.path, self.sidecar, self.trt, self.cuda = path, sidecar, trt, cuda
        self.runtime, self.engine, self.logger = runtime, engine, logger
        self.users = 0


class TensorRTBackend(Backend):
    """A TensorRT engine (``.engine``/``.plan`` + its ``.engine.json`` sidecar).

    Args:
        path: the engine file.
        options: device, CUDA layer ("cuda-python"/"pycuda"), warm-up, CUDA graphs (``BackendOptions``).
        trt, cuda: a tensorrt module and a ``fer_edge.cuda.CudaApi`` to use (tests pass fakes).

    Raises:
        MissingDependencyError: tensorrt is not installed (names the pip extra and the JetPack package).
        ModelFormatError: the path is a directory, the engine is empty/truncated/corrupt, the sidecar is missing or
            damaged, or TensorRT cannot deserialise it.
        EngineMismatchError: built for another TensorRT version or GPU (the message names the rebuild command).
    """

    name = "tensorrt"
    on_gpu = True

    def __init__(self, path, *, options: Optional[BackendOptions] = None, trt=None, cuda=None,
                 _shared: Optional[_Engine] = None):
        self.options = options or BackendOptions()
        self._ctx = None
        self._buffers: List[Any] = []
        self._graphs: Dict[int, Any] = {}
        self._stream = None
        if _shared is None:
            _shared = self._load(Path(path), trt, cuda, self.options)
        self._shared = _shared
        sidecar = _shared.sidecar
        self.path = _shared.path
        self.card: ModelCard = sidecar.model_card
        self.precision = sidecar.precision
        if self.options.cuda_graphs and not _shared.cuda.supports_graphs:
            log.warning("cuda_graphs=True but the %s CUDA layer cannot capture graphs; running without them (use "
                        "cuda='cuda-python')", _shared.cuda.name)
        try:
            self._open_context()
            if self.options.warmup:
                self.warmup()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------------------------ loading
    @staticmethod
    def _load(path: Path, trt, cuda, options: BackendOptions) -> _Engine:
        if path.is_dir():
            raise ModelFormatError(f"{path} is a directory, not an engine file; pass the .engine inside it")
        if not path.is_file():
            raise ModelFormatError(f"Engine file not found: {path}")
        if path.stat().st_size == 0:
            raise ModelFormatError(f"{path} is empty (0 bytes): the build or copy did not finish; rebuild it with "
                                   f"`fer-edge build MODEL.onnx -o {path}`")
        sidecar = EngineCard.load(path)
        sidecar.check_file(path)
        trt = trt if trt is not None else diff.import_tensorrt()
        cuda = _open_cuda(options, cuda)
        gpu, cc = gpu_identity(cuda)
        sidecar.check_runtime(path, diff.trt_version(trt), gpu, cc)
        logger = make_logger(trt)
        runtime = trt.Runtime(logger)
        if sidecar.dla_core is not None:
            if getattr(runtime, "num_DLA_cores", 0) <= sidecar.dla_core:
                raise EngineMismatchError(f"{path.name} runs on DLA core {sidecar.dla_core} but this device has "
                                          f"{getattr(runtime, 'num_DLA_cores', 0)} DLA core(s); rebuild it: "
                                          f"{sidecar.rebuild_command(path)}")
            runtime.DLA_core = int(sidecar.dla_core)
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            said = "; ".join(logger.messages[-3:]) or "no message"
            raise ModelFormatError(f"TensorRT could not deserialise {path.name} ({said}); the file is corrupt or was "
                                   f"built elsewhere. Rebuild it: {sidecar.rebuild_command(path)}")
        return _Engine(path, sidecar, trt, cuda, runtime, engine, logger)

    def _open_context(self) -> None:
        sh = self._shared
        trt, engine, cuda = sh.trt, sh.engine, sh.cuda
        io = diff.io_tensors(trt, engine)
        inputs = [n for n, is_in in io if is_in]
        outputs = [n for n, is_in in io if not is_in]
        if len(inputs) != 1 or not outputs:
            raise ModelFormatError(f"{self.path.name} has inputs {inputs} and outputs {outputs}; a classifier "
                                   "needs one input and one output")
        self._io_names = [n for n, _ in io]
        self._input, self._output = inputs[0], outputs[0]
        prof = sh.sidecar.profile.get(self._input)
        if prof is None:
            raise ModelFormatError(f"the sidecar of {self.path.name} has no profile for input {self._input!r}; "
                                   f"rebuild it: {sh.sidecar.rebuild_command(self.path)}")
        lo, hi = int(prof[0][0]), int(prof[2][0])
        self._min_batch = lo
        if lo == hi:
            self.static_batch, self.max_batch = hi, hi
        else:
            self.static_batch, self.max_batch = (lo if lo > 1 else None), hi
        self._in_dtype = self._np_dtype(engine.get_tensor_dtype(self._input) if hasattr(engine, "get_tensor_dtype")
                                        else trt.DataType.FLOAT)
        self._out_dtype = self._np_dtype(engine.get_tensor_dtype(self._output) if hasattr(engine, "get_tensor_dtype")
                                         else trt.DataType.FLOAT)
        ctx = engine.create_execution_context()
        if ctx is None:
            raise FerEdgeError(f"TensorRT could not create an execution context for {self.path.name} (out of GPU "
                               "memory?)")
        self._ctx = ctx
        sh.users += 1
        self._stream = cuda.stream_create()
        in_shape = (hi,) + self.card.input_shape
        out_shape = (hi, self.card.num_classes)
        self._d_in = cuda.malloc(int(np.prod(in_shape)) * self._in_dtype.itemsize)
        self._d_out = cuda.malloc(int(np.prod(out_shape)) * self._out_dtype.itemsize)
        self._h_in = cuda.pinned_empty(in_shape, self._in_dtype)
        self._h_out = cuda.pinned_empty(out_shape, self._out_dtype)
        self._buffers = [self._h_in, self._h_out, self._d_in, self._d_out]
        self._addresses = [self._d_in.ptr if n == self._input else self._d_out.ptr for n in self._io_names]
        if diff.uses_named_tensors(self._ctx):
            self._ctx.set_tensor_address(self._input, self._d_in.ptr)
            self._ctx.set_tensor_address(self._output, self._d_out.ptr)
        self._bound_batch: Optional[int] = None

    def _np_dtype(self, trt_dtype) -> np.dtype:
        name = getattr(trt_dtype, "name", str(trt_dtype))
        if name == "FLOAT":
            return np.dtype(np.float32)
        if name == "HALF":
            return np.dtype(np.float16)
        raise ModelFormatError(f"{self.path.name} has {name} I/O; fer_edge engines take float32 or float16 tensors")

    @classmethod
    def from_onnx(cls, onnx_path, *, options: Optional[BackendOptions] = None, trt=None, cuda=None,
                  build_config=None) -> TensorRTBackend:
        """Build (once, through the engine cache) and open an engine for ``onnx_path`` on this GPU."""
        from .engine_build import BuildConfig
        from .engine_cache import cached_engine

        options = options or BackendOptions()
        trt = trt if trt is not None else diff.import_tensorrt("building a TensorRT engine from ONNX")
        cuda = _open_cuda(options, cuda)
        config = build_config or BuildConfig(precision=options.precision)
        engine_path = cached_engine(onnx_path, config, cache_dir=options.cache_dir, trt=trt, cuda=cuda)
        return cls(engine_path, options=options, trt=trt, cuda=cuda)

    # ------------------------------------------------------------------------------------------- description
    @property
    def label(self) -> str:
        sc = self._shared.sidecar
        major, minor, _ = sc.trt_version_tuple
        where = f" dla{sc.dla_core}" if sc.dla_core is not None else ""
        return f"tensorrt {major}.{minor} {self.precision}{where}"

    def details(self) -> Dict[str, Any]:
        out = super().details()
        sc = self._shared.sidecar
        out.update(tensorrt_version=sc.tensorrt_version, gpu=sc.gpu_name, compute_capability=sc.compute_capability,
                   profile=sc.profile, built_utc=sc.built_utc, engine_build_s=sc.build_seconds,
                   build_peak_memory_mb=sc.peak_memory_mb, dla_core=sc.dla_core, build_mode=sc.build_mode,
                   cuda_layer=getattr(self._shared.cuda, "name", None), cuda_graphs=self.options.cuda_graphs,
                   device_memory_bytes=self._device_bytes() if self._ctx else None)
        return out

    def _device_bytes(self) -> int:
        """I/O buffers plus the context's activation memory (as the engine reports it)."""
        io = self._d_in.nbytes + self._d_out.nbytes
        return io + (diff.engine_device_memory(self._shared.engine) or 0)

    @property
    def stream(self) -> Optional[int]:
        return None if self._stream is None else int(self._stream.handle)

    @property
    def cuda(self):
        """The CUDA memory/stream layer this backend runs on (shared with clones)."""
        return self._shared.cuda

    # ------------------------------------------------------------------------------------------------ running
    def _live(self):
        if self._ctx is None:
            raise FerEdgeError(f"the TensorRT backend for {self.path.name} was closed; create a new one")
        return self._ctx

    def _bind(self, n: int) -> None:
        if self._bound_batch == n:
            return
        shape = (n,) + self.card.input_shape
        index = self._io_names.index(self._input)
        if not diff.set_input_shape(self._ctx, self._shared.engine, self._input, index, shape):
            raise InvalidInputError(f"{self.path.name} does not accept a batch of {n} (its profile is "
                                    f"{self._shared.sidecar.profile[self._input]}); rebuild with a wider --batch")
        self._bound_batch = n

    def _enqueue(self, n: int) -> None:
        """Run the engine for ``n`` rows already in the device input buffer; enqueue the D2H of the output."""
        ctx = self._live()
        self._bind(n)
        if self.options.cuda_graphs and self._shared.cuda.supports_graphs:
            self._run_graph(n)
        elif not diff.enqueue(ctx, self._addresses, self._stream.handle):
            raise FerEdgeError(f"TensorRT failed to enqueue {self.path.name}: "
                               f"{'; '.join(self._shared.logger.messages[-3:]) or 'no message'}")
        self._shared.cuda.memcpy_dtoh_async(self._h_out.array[:n], self._d_out.ptr, self._stream)

    def _run_graph(self, n: int) -> None:
        """Replay the CUDA graph captured for batch ``n`` (captured on first use, after one plain run)."""
        cuda, ctx = self._shared.cuda, self._ctx
        graph = self._graphs.get(n)
        if graph is None:
            diff.enqueue(ctx, self._addresses, self._stream.handle)  # TensorRT needs one run before capture
            cuda.graph_capture_begin(self._stream)
            diff.enqueue(ctx, self._addresses, self._stream.handle)
            graph = self._graphs[n] = cuda.graph_capture_end(self._stream)
            return
        cuda.graph_launch(graph, self._stream)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        n = batch.shape[0]
        if n < self._min_batch:  # a profile whose min batch > 1 without being static: pad up
            return self._infer_padded_to(batch, self._min_batch)
        self._live()
        self._h_in.array[:n] = batch  # casts to float16 for an FP16-I/O engine
        self._shared.cuda.memcpy_htod_async(self._d_in.ptr, self._h_in.array[:n], self._stream)
        self._enqueue(n)
        self._stream.synchronize()
        return self._h_out.array[:n].astype(np.float32, copy=True)

    def _infer_padded_to(self, batch: np.ndarray, rows: int) -> np.ndarray:
        padded = np.zeros((rows,) + batch.shape[1:], np.float32)
        padded[: batch.shape[0]] = batch
        return self._infer(padded)[: batch.shape[0]]

    def device_input(self, batch: int) -> Optional[DeviceView]:
        batch = check_device_batch(self, batch)
        self._live()
        return DeviceView(ptr=int(self._d_in.ptr), shape=(batch,) + self.card.input_shape, dtype=self._in_dtype)

    def infer_device(self, batch: int) -> np.ndarray:
        batch = check_device_batch(self, batch)
        if batch < self._min_batch or (self.static_batch is not None and batch != self.static_batch):
            raise InvalidInputError(f"{self.path.name} runs batches of {self.static_batch or self._min_batch} or "
                                    f"more; write {self.static_batch or self._min_batch} rows to device_input()")
        self._enqueue(batch)
        self._stream.synchronize()
        return self._h_out.array[:batch].astype(np.float32, copy=True)

    # ----------------------------------------------------------------------------------------------- lifetime
    def clone(self) -> TensorRTBackend:
        """A second execution context on the same engine (own stream and buffers), e.g. for another thread."""
        self._live()
        return TensorRTBackend(self.path, options=self.options, _shared=self._shared)

    def io_summary(self):
        sh = self._shared
        rows = []
        for name in self._io_names:
            dtype = self._in_dtype if name == self._input else self._out_dtype
            shape = tuple(sh.engine.get_tensor_shape(name)) if hasattr(sh.engine, "get_tensor_shape") else ()
            rows.append((name, shape, str(dtype)))
        return tuple(rows)

    def close(self) -> None:
        if self._shared is None:
            return
        cuda = self._shared.cuda
        for buf in self._buffers:
            buf.free()
        self._buffers = []
        for graph in self._graphs.values():
            cuda.graph_destroy(graph)
        self._graphs = {}
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._ctx is not None:
            self._ctx = None
            self._shared.users -= 1
        if self._shared.users <= 0:
            self._shared.engine = None
            self._shared.runtime = None
