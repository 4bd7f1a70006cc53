"""A fake ``tensorrt`` module following the real 8.5 / 10.x / 11.x Python API names (research/deploy.md §2).

``make_fake_tensorrt("10.3.0")`` returns a module object whose attribute set matches that version: what a version
removed is absent (AttributeError, as on the real bindings), so version dispatch is exercised honestly. Every call
that matters is appended to ``module.calls``. Install it in a test with
``monkeypatch.setitem(sys.modules, "tensorrt", make_fake_tensorrt(...))``.

Facts encoded: 10.0 removed ``build_engine``, ``max_workspace_size``, the binding-index API and
``execute_async_v2``; 11.0 removed ``BuilderFlag.FP16/INT8/...``, ``IBuilderConfig.int8_calibrator``, the
``IInt8*Calibrator`` family, ``CalibrationAlgoType``, ``platform_has_fast_*`` and calibration profiles;
``STRONGLY_TYPED`` exists from 10 (9.x) on, and combining it with precision flags fails the build.
"""

from __future__ import annotations

import enum
import types
from typing import Any, Dict, List, Optional, Tuple


def _version_tuple(version: str) -> Tuple[int, int, int]:
    parts = [int(p) for p in version.split(".")[:3]]
    return tuple((parts + [0, 0, 0])[:3])


def make_fake_tensorrt(version: str = "10.3.0") -> types.ModuleType:
    """Build a fresh fake tensorrt module for ``version`` ("8.5.2.2", "10.3.0", "11.4.0.106"...)."""
    major, minor, _ = _version_tuple(version)
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.__file__ = "<fake tensorrt>"
    calls: List[Tuple] = []
    trt.calls = calls
    legacy_precision = major < 11
    v10 = major >= 10

    # ------------------------------------------------------------------ enums
    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    class Logger:
        def __init__(self, min_severity=Severity.WARNING):
            self.min_severity = min_severity
            self.messages: List[Tuple[Any, str]] = []

        def log(self, severity, msg):
            self.messages.append((severity, msg))

    for sev in Severity:
        setattr(Logger, sev.name, sev)
    Logger.Severity = Severity
    trt.Logger = Logger
    trt.ILogger = Logger

    flags = ["GPU_FALLBACK", "REFIT", "DEBUG", "DISABLE_TIMING_CACHE", "TF32", "SPARSE_WEIGHTS", "SAFETY_SCOPE",
             "DIRECT_IO", "REJECT_EMPTY_ALGORITHMS"]
    if legacy_precision:
        flags += ["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS",
                  "BF16" if v10 else "STRICT_TYPES"]
    if (major, minor) >= (8, 6):
        flags += ["VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME"]
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", flags)
    net_flags = ["EXPLICIT_BATCH"] + (["STRONGLY_TYPED"] if v10 else [])
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", net_flags, start=0)
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM", "DLA_LOCAL_DRAM",
                                                         "DLA_GLOBAL_DRAM", "TACTIC_DRAM"], start=0)
    trt.TensorIOMode = enum.IntEnum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"], start=0)
    trt.DataType = enum.IntEnum("DataType", ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8", "BF16",
                                             "INT64", "INT4"], start=0)
    if (major, minor) >= (8, 6):
        trt.HardwareCompatibilityLevel = enum.IntEnum("HardwareCompatibilityLevel", ["NONE", "AMPERE_PLUS"], start=0)

    # ------------------------------------------------------------ calibrators
    if legacy_precision:
        trt.CalibrationAlgoType = enum.IntEnum(
            "CalibrationAlgoType",
            ["LEGACY_CALIBRATION", "ENTROPY_CALIBRATION", "ENTROPY_CALIBRATION_2", "MINMAX_CALIBRATION"], start=0)

        class IInt8Calibrator:
            algorithm = None

            def __init__(self):
                calls.append(("IInt8Calibrator.__init__", type(self).__name__))

            def get_algorithm(self):
                return self.algorithm

            def get_batch_size(self):
                raise NotImplementedError

            def get_batch(self, names):
                raise NotImplementedError

            def read_calibration_cache(self):
                return None

            def write_calibration_cache(self, cache):
                return None

        def _calib(name, algo):
            return type(name, (IInt8Calibrator,), {"algorithm": algo})

        trt.IInt8Calibrator = IInt8Calibrator
        trt.IInt8EntropyCalibrator2 = _calib("IInt8EntropyCalibrator2", trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2)
        trt.IInt8EntropyCalibrator = _calib("IInt8EntropyCalibrator", trt.CalibrationAlgoType.ENTROPY_CALIBRATION)
        trt.IInt8MinMaxCalibrator = _calib("IInt8MinMaxCalibrator", trt.CalibrationAlgoType.MINMAX_CALIBRATION)
        trt.IInt8LegacyCalibrator = _calib("IInt8LegacyCalibrator", trt.CalibrationAlgoType.LEGACY_CALIBRATION)

    # ----------------------------------------------------------------- network
    class INetworkDefinition:
        def __init__(self, flags: int):
            self.flags = flags
            self.inputs: List[Tuple[str, tuple]] = []
            self.outputs: List[Tuple[str, tuple]] = []

        @property
        def num_inputs(self):
            return len(self.inputs)

        @property
        def num_outputs(self):
            return len(self.outputs)

        def get_input(self, i):
            return types.SimpleNamespace(name=self.inputs[i][0], shape=self.inputs[i][1])

        def get_output(self, i):
            return types.SimpleNamespace(name=self.outputs[i][0], shape=self.outputs[i][1])

    class OnnxParser:
        def __init__(self, network, logger):
            self.network, self.logger, self._errors = network, logger, []
            calls.append(("OnnxParser",))

        def parse(self, data: bytes, path: Optional[str] = None) -> bool:
            calls.append(("OnnxParser.parse", len(data)))
            try:
                import onnx

                model = onnx.ModelProto.FromString(bytes(data))
            except Exception as exc:  # noqa: BLE001 - mimic the parser's error list
                self._errors.append(f"parse error: {exc}")
                return False
            inits = {i.name for i in model.graph.initializer}

            def dims(vi):
                return tuple(d.dim_value if d.dim_value else -1 for d in vi.type.tensor_type.shape.dim)

            self.network.inputs = [(i.name, dims(i)) for i in model.graph.input if i.name not in inits]
            self.network.outputs = [(o.name, dims(o)) for o in model.graph.output]
            return True

        def parse_from_file(self, path: str) -> bool:
            with open(path, "rb") as fh:
                return self.parse(fh.read(), path)

        @property
        def num_errors(self):
            return len(self._errors)

        def get_error(self, i):
            return self._errors[i]

    trt.OnnxParser = OnnxParser

    class IOptimizationProfile:
        def __init__(self):
            self.shapes: Dict[str, Tuple] = {}

        def set_shape(self, name, min, opt, max):  # noqa: A002 - the real keyword names
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))
            calls.append(("profile.set_shape", name, tuple(min), tuple(opt), tuple(max)))

    class IBuilderConfig:
        def __init__(self):
            self._flags = set()
            self.pool_limits: Dict[Any, int] = {}
            self.profiles: List[IOptimizationProfile] = []
            if legacy_precision:
                self.int8_calibrator = None
            if (major, minor) >= (8, 6):
                self.hardware_compatibility_level = trt.HardwareCompatibilityLevel.NONE

        def set_flag(self, flag):
            calls.append(("config.set_flag", flag.name))
            self._flags.add(flag)

        def clear_flag(self, flag):
            self._flags.discard(flag)

        def get_flag(self, flag):
            return flag in self._flags

        def set_memory_pool_limit(self, pool, size):
            calls.append(("config.set_memory_pool_limit", pool.name, int(size)))
            self.pool_limits[pool] = int(size)

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, data: bytes):
            return types.SimpleNamespace(serialize=lambda: b"timing")

        def set_timing_cache(self, cache, ignore_mismatch):
            calls.append(("config.set_timing_cache", bool(ignore_mismatch)))
            return True

        def get_timing_cache(self):
            return types.SimpleNamespace(serialize=lambda: b"timing")

    if not v10:
        IBuilderConfig.max_workspace_size = 0
    if legacy_precision:
        def set_calibration_profile(self, profile):
            calls.append(("config.set_calibration_profile",))
            self.calibration_profile = profile

        IBuilderConfig.set_calibration_profile = set_calibration_profile

    class Builder:
        def __init__(self, logger):
            self.logger = logger
            calls.append(("Builder",))

        def create_network(self, flags: int = 0):
            calls.append(("create_network", int(flags)))
            return INetworkDefinition(int(flags))

        def create_builder_config(self):
            return IBuilderConfig()

        def create_optimization_profile(self):
            return IOptimizationProfile()

        def build_serialized_network(self, network, config):
            calls.append(("build_serialized_network",))
            strongly = v10 and bool(network.flags & (1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)))
            precision = [f.name for f in getattr(config, "_flags", ()) if f.name in ("FP16", "INT8", "BF16")]
            if strongly and precision:
                self.logger.log(Severity.ERROR, f"precision flags {precision} not allowed on strongly typed networks")
                return None
            calibrator = getattr(config, "int8_calibrator", None)
            if legacy_precision and "INT8" in precision and calibrator is not None:
                _run_calibration(calibrator, network)
            return b"FAKEPLAN" + version.encode()

        if not v10:
            def build_engine(self, network, config):
                plan = self.build_serialized_network(network, config)
                return None if plan is None else ICudaEngine(plan)

        if legacy_precision:
            @property
            def platform_has_fast_int8(self):
                return True

            @property
            def platform_has_fast_fp16(self):
                return True

    def _run_calibration(calibrator, network):
        """What TensorRT does with a calibrator: cache first, else batches until None, then write the cache."""
        cache = calibrator.read_calibration_cache()
        if cache:
            calls.append(("calibration_cache_used", bytes(cache)))
            return
        names = [n for n, _ in network.inputs]
        calibrator.get_batch_size()
        while True:
            pointers = calibrator.get_batch(names)
            calls.append(("get_batch", None if pointers is None else list(pointers)))
            if pointers is None:
                break
        patch = _version_tuple(version)[2]
        tag = major * 1000 + minor * 100 + patch if major < 10 else major * 10000 + minor * 100 + patch
        algo = {"ENTROPY_CALIBRATION_2": "EntropyCalibration2", "MINMAX_CALIBRATION": "MinMaxCalibration"}.get(
            calibrator.get_algorithm().name, "EntropyCalibration2")
        lines = [f"TRT-{tag}-{algo}"] + [f"{n}: 3c010a14" for n in names]
        # The real bindings hand Python a buffer (memoryview-like), not bytes.
        calibrator.write_calibration_cache(memoryview(("\n".join(lines) + "\n").encode()))

    trt.Builder = Builder

    # ----------------------------------------------------------------- runtime
    class ICudaEngine:
        def __init__(self, plan: bytes):
            self.plan = plan
            self.num_io_tensors = 2
            self._names = ["input", "logits"]

        def get_tensor_name(self, i):
            return self._names[i]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.INPUT if name == "input" else trt.TensorIOMode.OUTPUT

        def create_execution_context(self):
            return types.SimpleNamespace(set_input_shape=lambda n, s: True, set_tensor_address=lambda n, p: True,
                                         execute_async_v3=lambda stream_handle: True)

    if not v10:
        ICudaEngine.num_bindings = 2

    class Runtime:
        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, plan: bytes):
            calls.append(("deserialize_cuda_engine", len(plan)))
            if not bytes(plan).startswith(b"FAKEPLAN") or not bytes(plan).endswith(version.encode()):
                self.logger.log(Severity.ERROR, "engine plan is from another TensorRT version")
                return None
            return ICudaEngine(plan)

    trt.Runtime = Runtime
    trt.ICudaEngine = ICudaEngine
    trt.IBuilderConfig = IBuilderConfig
    return trt


VERSIONS = ("8.5.2.2", "10.3.0", "11.4.0.106")
