"""Fake ``tensorrt`` modules, one class per TensorRT line (8.5, 10.x, 11.x), held to NVIDIA's real API surface.

``make_fake_tensorrt("10.13.0")`` returns a module object whose names, enum members and enum *values* are those of
that version (``research/trt_api/*.json``, read from NVIDIA's own bindings wheels; a test checks every name here
against it): what a version lacks is absent (AttributeError, as on the real bindings), so version dispatch is
exercised honestly. Every call that matters is appended to ``module.calls``. A fake engine runs on a
``FakeCudaApi`` (``module.attach_cuda(api)``): it reads its input from fake device memory, writes
``logits[:, k] = mean(x) * (k + 1)`` and records ``("execute", stream)`` in the CUDA layer's call list, so the order
preprocess → H2D → execute → D2H on one stream can be asserted.

Facts encoded (deploy.md §2.1, trt_api/*.json): 8.5 has no ``STRONGLY_TYPED``, no ``VERSION_COMPATIBLE`` (8.6),
has ``execute_async_v2`` + the binding API *and* the named-tensor API (added in 8.5); 10.0 removed
``build_engine``, ``max_workspace_size``, the binding API and ``execute_async_v2``; 11.0 removed
``BuilderFlag.FP16/INT8``, ``EXPLICIT_BATCH``, ``int8_calibrator``, the ``IInt8*Calibrator`` family,
``CalibrationAlgoType`` and ``platform_has_fast_*``; ``STRONGLY_TYPED`` is 1 on 10.x but 0 on 11.x.
"""

from __future__ import annotations

import enum
import json
import types
from typing import Any, Dict, List, Optional, Tuple

#: attributes of the fake module that are test hooks, not TensorRT names (excluded from the surface check)
FAKE_ONLY = {"calls", "attach_cuda", "fake_surface"}


def _version_tuple(version: str) -> Tuple[int, int, int]:
    parts = [int(p) for p in version.split(".")[:3]]
    return tuple((parts + [0, 0, 0])[:3])


class FakeTensorRT:
    """The names every supported TensorRT line shares; subclasses add or drop what their version has."""

    version = "0.0.0"
    surface = ""  # research/trt_api/<surface>.json this fake is checked against
    builder_flags: Dict[str, int] = {}
    network_flags: Dict[str, int] = {}
    data_types = {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "BOOL": 4, "UINT8": 5}
    memory_pools = {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2, "DLA_GLOBAL_DRAM": 3,
                    "TACTIC_DRAM": 4}
    hardware_compat: Optional[Dict[str, int]] = None
    calibrators = False
    binding_api = False  # num_bindings / get_binding_* / execute_async_v2
    named_tensor_api = True
    build_engine = False
    max_workspace_size = False
    platform_has_fast = False
    progress_monitor = False  # IProgressMonitor (10.0+)
    fast_int8 = True  # what platform_has_fast_int8 answers (where the version has it)
    num_dla_cores = 0

    def __init__(self, version: Optional[str] = None):
        if version is not None:
            self.version = version

    def module(self) -> types.ModuleType:  # noqa: C901 - one builder per fake module, read top to bottom
        spec = self
        version = self.version
        trt = types.ModuleType("tensorrt")
        trt.__version__ = version
        trt.__file__ = "<fake tensorrt>"
        calls: List[Tuple] = []
        trt.calls = calls
        state: Dict[str, Any] = {"cuda": None}

        def attach_cuda(api):
            """Let fake engines read/write a FakeCudaApi's memory."""
            state["cuda"] = api

        trt.attach_cuda = attach_cuda
        trt.fake_surface = spec.surface

        # ------------------------------------------------------------------ enums
        class Severity(enum.IntEnum):
            INTERNAL_ERROR = 0
            ERROR = 1
            WARNING = 2
            INFO = 3
            VERBOSE = 4

        class ILogger:
            def __init__(self):
                pass

            def log(self, severity, msg):
                pass

        for sev in Severity:
            setattr(ILogger, sev.name, sev)
        ILogger.Severity = Severity

        class Logger(ILogger):
            def __init__(self, min_severity=Severity.WARNING):
                ILogger.__init__(self)
                self.min_severity = min_severity
                self.messages: List[Tuple[Any, str]] = []

            def log(self, severity, msg):
                self.messages.append((severity, msg))

        trt.ILogger = ILogger
        trt.Logger = Logger
        trt.BuilderFlag = enum.IntEnum("BuilderFlag", dict(spec.builder_flags))
        trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", dict(spec.network_flags))
        trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", dict(spec.memory_pools))
        trt.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
        trt.DataType = enum.IntEnum("DataType", dict(spec.data_types))
        trt.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})
        if spec.hardware_compat is not None:
            trt.HardwareCompatibilityLevel = enum.IntEnum("HardwareCompatibilityLevel", dict(spec.hardware_compat))

        # ------------------------------------------------------------ calibrators
        if spec.calibrators:
            trt.CalibrationAlgoType = enum.IntEnum("CalibrationAlgoType", {
                "LEGACY_CALIBRATION": 0, "ENTROPY_CALIBRATION": 1, "ENTROPY_CALIBRATION_2": 2,
                "MINMAX_CALIBRATION": 3})

            class IInt8Calibrator:
                def __init__(self):
                    calls.append(("IInt8Calibrator.__init__", type(self).__name__))

                def get_algorithm(self):
                    return trt.CalibrationAlgoType.LEGACY_CALIBRATION

                def get_batch_size(self):
                    raise NotImplementedError

                def get_batch(self, names):
                    raise NotImplementedError

                def read_calibration_cache(self):
                    return None

                def write_calibration_cache(self, cache):
                    return None

            def _calib(name, algo):
                return type(name, (IInt8Calibrator,), {"get_algorithm": lambda self, a=algo: a})

            algo = trt.CalibrationAlgoType
            trt.IInt8Calibrator = IInt8Calibrator
            trt.IInt8EntropyCalibrator2 = _calib("IInt8EntropyCalibrator2", algo.ENTROPY_CALIBRATION_2)
            trt.IInt8EntropyCalibrator = _calib("IInt8EntropyCalibrator", algo.ENTROPY_CALIBRATION)
            trt.IInt8MinMaxCalibrator = _calib("IInt8MinMaxCalibrator", algo.MINMAX_CALIBRATION)
            trt.IInt8LegacyCalibrator = _calib("IInt8LegacyCalibrator", algo.LEGACY_CALIBRATION)

        # ----------------------------------------------------------------- network
        class ITensor:
            def __init__(self, name, shape, dtype):
                self.name, self.shape, self.dtype = name, tuple(shape), dtype

        class INetworkDefinition:
            def __init__(self, flags: int):
                self._flags = flags
                self._inputs: List[ITensor] = []
                self._outputs: List[ITensor] = []
                self._float16 = False
                self._qdq = False

            @property
            def num_inputs(self):
                return len(self._inputs)

            @property
            def num_outputs(self):
                return len(self._outputs)

            def get_input(self, i):
                return self._inputs[i]

            def get_output(self, i):
                return self._outputs[i]

        trt.INetworkDefinition = INetworkDefinition
        trt.ITensor = ITensor

        class OnnxParser:
            def __init__(self, network, logger):
                self._network, self._logger, self._errors = network, logger, []
                calls.append(("OnnxParser",))

            def parse(self, model, path=None):
                calls.append(("OnnxParser.parse", len(model)))
                try:
                    import onnx

                    proto = onnx.ModelProto.FromString(bytes(model))
                except Exception as exc:  # noqa: BLE001 - mimic the parser's error list
                    self._errors.append(f"parse error: {exc}")
                    return False
                if not proto.graph.node:
                    self._errors.append("the ONNX graph has no nodes")
                    return False
                inits = {i.name for i in proto.graph.initializer}

                def dims(vi):
                    return tuple(d.dim_value if d.dim_value else -1 for d in vi.type.tensor_type.shape.dim)

                def dtype(vi):
                    return trt.DataType.HALF if vi.type.tensor_type.elem_type == 10 else trt.DataType.FLOAT

                net = self._network
                net._inputs = [ITensor(i.name, dims(i), dtype(i)) for i in proto.graph.input if i.name not in inits]
                net._outputs = [ITensor(o.name, dims(o), dtype(o)) for o in proto.graph.output]
                net._qdq = any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
                return True

            def parse_from_file(self, model):
                with open(model, "rb") as fh:
                    return self.parse(fh.read(), model)

            @property
            def num_errors(self):
                return len(self._errors)

            def get_error(self, index):
                return self._errors[index]

        trt.OnnxParser = OnnxParser

        class IOptimizationProfile:
            def __init__(self):
                self._shapes: Dict[str, Tuple] = {}

            def set_shape(self, input, min, opt, max):  # noqa: A002 - the real keyword names
                self._shapes[input] = (tuple(min), tuple(opt), tuple(max))
                calls.append(("profile.set_shape", input, tuple(min), tuple(opt), tuple(max)))

            def get_shape(self, input):  # noqa: A002
                return self._shapes[input]

        trt.IOptimizationProfile = IOptimizationProfile

        class ITimingCache:
            def __init__(self, data: bytes = b""):
                self._data = bytes(data) or b"TIMING"

            def serialize(self):
                return self._data

        trt.ITimingCache = ITimingCache

        class IBuilderConfig:
            def __init__(self):
                self._flags = set()
                self._pool_limits: Dict[Any, int] = {}
                self._profiles: List[IOptimizationProfile] = []
                self._timing_cache = None
                self.default_device_type = trt.DeviceType.GPU
                self.DLA_core = -1
                if spec.calibrators:
                    self.int8_calibrator = None
                if spec.hardware_compat is not None:
                    self.hardware_compatibility_level = trt.HardwareCompatibilityLevel.NONE
                if spec.progress_monitor:
                    self.progress_monitor = None

            def set_flag(self, flag):
                calls.append(("config.set_flag", flag.name))
                self._flags.add(flag)

            def clear_flag(self, flag):
                self._flags.discard(flag)

            def get_flag(self, flag):
                return flag in self._flags

            def set_memory_pool_limit(self, pool, pool_size):
                calls.append(("config.set_memory_pool_limit", pool.name, int(pool_size)))
                self._pool_limits[pool] = int(pool_size)

            def add_optimization_profile(self, profile):
                self._profiles.append(profile)
                return len(self._profiles) - 1

            def create_timing_cache(self, serialized_timing_cache):
                calls.append(("config.create_timing_cache", bytes(serialized_timing_cache)))
                return ITimingCache(serialized_timing_cache)

            def set_timing_cache(self, cache, ignore_mismatch):
                calls.append(("config.set_timing_cache", bool(ignore_mismatch)))
                self._timing_cache = cache
                return True

            def get_timing_cache(self):
                return self._timing_cache or ITimingCache(b"TIMING")

        if spec.max_workspace_size:
            IBuilderConfig.max_workspace_size = 0
        if spec.calibrators:
            def set_calibration_profile(self, profile):
                calls.append(("config.set_calibration_profile",))
                self._calibration_profile = profile

            IBuilderConfig.set_calibration_profile = set_calibration_profile
        trt.IBuilderConfig = IBuilderConfig
        if spec.progress_monitor:
            class IProgressMonitor:
                def __init__(self):
                    pass

                def phase_start(self, phase_name, parent_phase, num_steps):
                    pass

                def step_complete(self, phase_name, step):
                    return True

                def phase_finish(self, phase_name):
                    pass

            trt.IProgressMonitor = IProgressMonitor

        class IHostMemory:
            """The real one exposes the buffer protocol; ``bytes(plan)`` is how fer_edge reads it."""

            def __init__(self, data: bytes):
                self._data = bytes(data)

            def __bytes__(self):
                return self._data

            def __len__(self):
                return len(self._data)

            @property
            def nbytes(self):
                return len(self._data)

        trt.IHostMemory = IHostMemory

        class Builder:
            def __init__(self, logger):
                self.logger = logger
                calls.append(("Builder",))

            @property
            def num_DLA_cores(self):
                return spec.num_dla_cores

            def create_network(self, flags: int = 0):
                calls.append(("create_network", int(flags)))
                return INetworkDefinition(int(flags))

            def create_builder_config(self):
                return IBuilderConfig()

            def create_optimization_profile(self):
                return IOptimizationProfile()

            def build_serialized_network(self, network, config):
                calls.append(("build_serialized_network",))
                st = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
                strongly = st is not None and bool(network._flags & (1 << int(st)))
                precision = [f.name for f in config._flags if f.name in ("FP16", "INT8", "BF16")]
                if strongly and precision:
                    self.logger.log(Severity.ERROR, f"precision flags {precision} not allowed on strongly typed "
                                                    "networks")
                    return None
                if "INT8" in precision and not network._qdq and getattr(config, "int8_calibrator", None) is None:
                    self.logger.log(Severity.ERROR, "INT8 requested without a calibrator or Q/DQ nodes")
                    return None
                calibrator = getattr(config, "int8_calibrator", None)
                if "INT8" in precision and calibrator is not None:
                    _run_calibration(calibrator, network)
                monitor = getattr(config, "progress_monitor", None)
                if monitor is not None:  # what the real builder reports: nested phases with steps
                    monitor.phase_start("Building engine", None, 2)
                    monitor.phase_start("Tactic selection", "Building engine", 3)
                    for step in range(3):
                        monitor.step_complete("Tactic selection", step)
                    monitor.phase_finish("Tactic selection")
                    for step in range(2):
                        monitor.step_complete("Building engine", step)
                    monitor.phase_finish("Building engine")
                if not config._profiles and any(-1 in t.shape for t in network._inputs):
                    self.logger.log(Severity.ERROR, "dynamic input without an optimization profile")
                    return None
                io = []
                for t in network._inputs:
                    shape = list(t.shape)
                    if config._profiles:
                        shape = list(config._profiles[0]._shapes[t.name][2])
                    io.append({"name": t.name, "mode": "INPUT", "shape": shape, "dtype": int(t.dtype),
                               "profile": [list(s) for s in config._profiles[0]._shapes[t.name]]
                               if config._profiles else [shape] * 3})
                for t in network._outputs:
                    io.append({"name": t.name, "mode": "OUTPUT", "shape": list(t.shape), "dtype": int(t.dtype)})
                header = {"version": version, "io": io}
                return IHostMemory(b"FAKEPLAN" + json.dumps(header).encode())

            if spec.build_engine:
                def build_engine(self, network, config):
                    plan = self.build_serialized_network(network, config)
                    return None if plan is None else ICudaEngine(plan)

            if spec.platform_has_fast:
                @property
                def platform_has_fast_int8(self):
                    return spec.fast_int8

                @property
                def platform_has_fast_fp16(self):
                    return True

        def _run_calibration(calibrator, network):
            """What TensorRT does with a calibrator: cache first, else batches until None, then write the cache."""
            cache = calibrator.read_calibration_cache()
            if cache:
                calls.append(("calibration_cache_used", bytes(cache)))
                return
            names = [t.name for t in network._inputs]
            calibrator.get_batch_size()
            while True:
                pointers = calibrator.get_batch(names)
                calls.append(("get_batch", None if pointers is None else list(pointers)))
                if pointers is None:
                    break
            major, minor, patch = _version_tuple(version)
            tag = major * 1000 + minor * 100 + patch if major < 10 else major * 10000 + minor * 100 + patch
            algo = {"ENTROPY_CALIBRATION_2": "EntropyCalibration2", "MINMAX_CALIBRATION": "MinMaxCalibration"}.get(
                calibrator.get_algorithm().name, "EntropyCalibration2")
            lines = [f"TRT-{tag}-{algo}"] + [f"{n}: 3c010a14" for n in names]
            # The real bindings hand Python a buffer (memoryview-like), not bytes.
            calibrator.write_calibration_cache(memoryview(("\n".join(lines) + "\n").encode()))

        trt.Builder = Builder

        # ----------------------------------------------------------------- runtime
        np_dtypes = {0: "float32", 1: "float16"}

        class IExecutionContext:
            def __init__(self, engine):
                self.engine = engine
                self._addresses: Dict[str, int] = {}
                self._shapes: Dict[str, Tuple[int, ...]] = {}

            def set_input_shape(self, name, shape):
                calls.append(("context.set_input_shape", name, tuple(shape)))
                lo, _, hi = self.engine._io[name]["profile"]
                if len(shape) != len(hi) or any(s < a or s > b for s, a, b in zip(shape, lo, hi)):
                    return False
                self._shapes[name] = tuple(shape)
                return True

            def set_tensor_address(self, name, memory):
                calls.append(("context.set_tensor_address", name, int(memory)))
                self._addresses[name] = int(memory)
                return True

            def get_tensor_shape(self, name):
                io = self.engine._io[name]
                if io["mode"] == "INPUT":
                    return self._shapes.get(name, tuple(io["shape"]))
                batch = next(iter(self._shapes.values()), (io["shape"][0],))[0]
                return (batch,) + tuple(io["shape"][1:])

            def _run(self, addresses: Dict[str, int], stream: int) -> bool:
                cuda = state["cuda"]
                if cuda is None:
                    raise RuntimeError("fake engine needs attach_cuda(FakeCudaApi) to run")
                inp = next(n for n, io in self.engine._io.items() if io["mode"] == "INPUT")
                out = next(n for n, io in self.engine._io.items() if io["mode"] == "OUTPUT")
                shape = self.get_tensor_shape(inp)
                x = cuda.read(addresses[inp], shape, np_dtypes[self.engine._io[inp]["dtype"]]).astype("float64")
                classes = self.engine._io[out]["shape"][1]
                means = x.reshape(shape[0], -1).mean(axis=1)
                import numpy as np

                logits = (means[:, None] * np.arange(1, classes + 1)[None, :]).astype(np_dtypes[
                    self.engine._io[out]["dtype"]])
                mem = cuda.memory[addresses[out]]
                mem[: logits.nbytes] = np.frombuffer(logits.tobytes(), np.uint8)
                cuda.calls.append(("execute", int(stream)))
                calls.append(("execute", int(stream), shape[0]))
                return True

            def execute_async_v3(self, stream_handle):
                cuda = state["cuda"]
                if cuda is not None and getattr(cuda, "capturing", None) is not None:  # stream capture: record
                    addresses = dict(self._addresses)
                    cuda.capturing.append(lambda: self._run(addresses, stream_handle))
                    calls.append(("execute_captured", int(stream_handle)))
                    return True
                return self._run(self._addresses, stream_handle)

            if spec.binding_api:
                def set_binding_shape(self, binding, shape):
                    return self.set_input_shape(self.engine._names[binding], shape)

                def execute_async_v2(self, bindings, stream_handle):
                    calls.append(("context.execute_async_v2", len(bindings)))
                    return self._run(dict(zip(self.engine._names, bindings)), stream_handle)

        trt.IExecutionContext = IExecutionContext

        class ICudaEngine:
            def __init__(self, plan: bytes):
                header = json.loads(bytes(plan)[len(b"FAKEPLAN"):])
                self._io = {t["name"]: t for t in header["io"]}
                self._names = [t["name"] for t in header["io"]]

            @property
            def num_io_tensors(self):
                return len(self._names)

            @property
            def num_optimization_profiles(self):
                return 1

            def get_tensor_name(self, index):
                return self._names[index]

            def get_tensor_mode(self, name):
                return trt.TensorIOMode[self._io[name]["mode"]]

            def get_tensor_shape(self, name):
                io = self._io[name]
                return tuple([-1] + io["shape"][1:]) if io["mode"] == "INPUT" else tuple(io["shape"])

            def get_tensor_dtype(self, name):
                return trt.DataType(self._io[name]["dtype"])

            def get_tensor_profile_shape(self, name, profile_index):
                return tuple(tuple(s) for s in self._io[name]["profile"])

            def create_execution_context(self):
                calls.append(("create_execution_context",))
                return IExecutionContext(self)

            if spec.binding_api:
                @property
                def num_bindings(self):
                    return len(self._names)

                def get_binding_name(self, index):
                    return self._names[index]

                def binding_is_input(self, index):
                    return self._io[self._names[index]]["mode"] == "INPUT"

        class Runtime:
            def __init__(self, logger):
                self.logger = logger

            @property
            def num_DLA_cores(self):
                return spec.num_dla_cores

            def deserialize_cuda_engine(self, serialized_engine):
                data = bytes(serialized_engine)  # bytes or IHostMemory
                calls.append(("deserialize_cuda_engine", len(data)))
                try:
                    if not data.startswith(b"FAKEPLAN"):
                        raise ValueError("magic")
                    header = json.loads(data[len(b"FAKEPLAN"):])
                except ValueError:
                    self.logger.log(Severity.ERROR, "Serialization assertion failed: corrupt or truncated plan")
                    return None
                if header["version"] != version:
                    self.logger.log(Severity.ERROR, "Version tag does not match")
                    return None
                return ICudaEngine(data)

        trt.Runtime = Runtime
        trt.ICudaEngine = ICudaEngine
        return trt


class FakeTensorRT85(FakeTensorRT):
    """TensorRT 8.5 (JetPack 5): checked against the 8.6.1 surface minus 8.6's additions."""

    version = "8.5.2.2"
    surface = "8.6.1"
    builder_flags = {"FP16": 0, "INT8": 1, "DEBUG": 2, "GPU_FALLBACK": 3, "STRICT_TYPES": 4, "REFIT": 5,
                     "DISABLE_TIMING_CACHE": 6, "TF32": 7, "SPARSE_WEIGHTS": 8, "SAFETY_SCOPE": 9,
                     "OBEY_PRECISION_CONSTRAINTS": 10, "PREFER_PRECISION_CONSTRAINTS": 11, "DIRECT_IO": 12,
                     "REJECT_EMPTY_ALGORITHMS": 13}
    network_flags = {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1}
    calibrators = True
    binding_api = True
    build_engine = True
    max_workspace_size = True
    platform_has_fast = True


class FakeTensorRT10(FakeTensorRT):
    """TensorRT 10.x (JetPack 6: 10.3; JetPack 7: 10.13–10.16; desktop)."""

    version = "10.13.0.35"
    surface = "10.13.0"
    builder_flags = {"FP16": 0, "INT8": 1, "DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4, "DISABLE_TIMING_CACHE": 5,
                     "TF32": 6, "SPARSE_WEIGHTS": 7, "SAFETY_SCOPE": 8, "OBEY_PRECISION_CONSTRAINTS": 9,
                     "PREFER_PRECISION_CONSTRAINTS": 10, "DIRECT_IO": 11, "REJECT_EMPTY_ALGORITHMS": 12,
                     "VERSION_COMPATIBLE": 13, "EXCLUDE_LEAN_RUNTIME": 14, "BF16": 17}
    network_flags = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
    data_types = dict(FakeTensorRT.data_types, BF16=7, INT64=8)
    hardware_compat = {"NONE": 0, "AMPERE_PLUS": 1, "SAME_COMPUTE_CAPABILITY": 2}
    calibrators = True
    platform_has_fast = True
    progress_monitor = True


class FakeTensorRT11(FakeTensorRT):
    """TensorRT 11.x: strongly typed only; no precision flags, calibrators or EXPLICIT_BATCH."""

    version = "11.4.0.106"
    surface = "11.4.0"
    builder_flags = {"DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4, "DISABLE_TIMING_CACHE": 5, "TF32": 6,
                     "SPARSE_WEIGHTS": 7, "SAFETY_SCOPE": 8, "DIRECT_IO": 11, "VERSION_COMPATIBLE": 12,
                     "EXCLUDE_LEAN_RUNTIME": 13}
    network_flags = {"STRONGLY_TYPED": 0}
    data_types = dict(FakeTensorRT.data_types, BF16=7, INT64=8)
    hardware_compat = {"NONE": 0, "AMPERE_PLUS": 1, "SAME_COMPUTE_CAPABILITY": 2}
    progress_monitor = True


FAKES = {8: FakeTensorRT85, 10: FakeTensorRT10, 11: FakeTensorRT11}


def make_fake_tensorrt(version: str = "10.13.0.35", **overrides) -> types.ModuleType:
    """A fresh fake tensorrt module for ``version`` ("8.5.2.2", "10.3.0", "11.4.0.106"...).

    ``overrides`` set class attributes of the version's fake (e.g. ``fast_int8=False``, ``num_dla_cores=2``).
    """
    major = _version_tuple(version)[0]
    cls = FAKES[major]
    if overrides:
        cls = type(cls.__name__, (cls,), dict(overrides))
    return cls(version).module()


VERSIONS = ("8.5.2.2", "10.13.0.35", "11.4.0.106")
