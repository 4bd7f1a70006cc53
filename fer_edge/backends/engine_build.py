"""Build a TensorRT engine from an ONNX model with the runtime alone (a Jetson builds its own engines).

Precision per TensorRT line (research/deploy.md §2.2–2.4; decided in ``build_recipe``):
- 11.x: strongly typed only — the precision is the ONNX's (Q/DQ for INT8, FP16 casts for FP16); no precision flags.
- 10.x: STRONGLY_TYPED for Q/DQ and FP16 ONNX graphs; an FP32 ONNX can still take the legacy FP16 flag, or the
  INT8 flag + a calibrator/calibration cache (deprecated since 10.1).
- 8.5: EXPLICIT_BATCH, FP16/INT8 builder flags; INT8 from an FP32 ONNX through ``IInt8EntropyCalibrator2`` + cache.
The engine and its sidecar are published atomically; a failed build leaves neither.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

from ..atomic import atomic_path, atomic_write_bytes
from ..card import ModelCard
from ..errors import FerEdgeError, InvalidInputError, ModelFormatError
from . import trt_differences as diff
from .engine_card import EngineCard, sha256_file, sidecar_path

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "int8")
INT8_RECIPES = ("auto", "qdq", "calibrator")
DEFAULT_WORKSPACE_MB = 256  # small: 8 GB Jetsons share CPU and GPU memory (deploy.md §3.4)


@dataclass(frozen=True)
class BuildConfig:
    """How to build an engine.

    Args:
        precision: "auto" (the ONNX's own precision, from its card), "fp32", "fp16" or "int8".
        batches: (min, opt, max) batch of the optimization profile; one value n means (1, n, n), two (min, max, max).
            A static-batch ONNX ignores it.
        workspace_mb: builder scratch-memory limit.
        dla_core: build for this DLA core (GPU fallback on) instead of the GPU.
        version_compatible: ``BuilderFlag.VERSION_COMPATIBLE`` (TensorRT ≥ 8.6): the engine also loads in newer
            runtimes of the next major line.
        timing_cache: "auto" (one file per TensorRT version and GPU in the cache folder), a path, or None (off).
        int8_recipe: "auto", "qdq" (explicit Q/DQ ONNX) or "calibrator" (implicit INT8, TensorRT ≤ 10).
    """

    precision: str = "auto"
    batches: Tuple[int, ...] = (1, 8, 32)
    workspace_mb: int = DEFAULT_WORKSPACE_MB
    dla_core: Optional[int] = None
    version_compatible: bool = False
    timing_cache: Optional[str] = "auto"
    int8_recipe: str = "auto"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.int8_recipe not in INT8_RECIPES:
            raise InvalidInputError(f"int8_recipe must be one of {INT8_RECIPES}, got {self.int8_recipe!r}")
        batches = tuple(int(b) for b in self.batches)
        if not 1 <= len(batches) <= 3 or any(b < 1 for b in batches):
            raise InvalidInputError(f"batches must be 1-3 positive sizes (min,opt,max), got {self.batches!r}")
        if len(batches) == 1:
            batches = (1, batches[0], batches[0])
        elif len(batches) == 2:
            batches = (batches[0], batches[1], batches[1])
        if not batches[0] <= batches[1] <= batches[2]:
            raise InvalidInputError(f"batches must be ordered min <= opt <= max, got {batches}")
        object.__setattr__(self, "batches", batches)
        if int(self.workspace_mb) < 16:
            raise InvalidInputError(f"workspace_mb must be >= 16, got {self.workspace_mb}")
        if self.dla_core is not None and int(self.dla_core) < 0:
            raise InvalidInputError(f"dla_core must be >= 0, got {self.dla_core}")


@dataclass(frozen=True)
class Recipe:
    """What ``build_recipe`` decided: typing mode, builder flags and whether a calibrator is needed."""

    precision: str
    strongly_typed: bool
    flags: Tuple[str, ...]
    calibrator: bool


def build_recipe(trt, onnx_precision: str, config: BuildConfig) -> Recipe:
    """The precision recipe for this TensorRT version (the one place the build path forks by version)."""
    want = onnx_precision if config.precision == "auto" else config.precision
    ver = diff.version_text(trt)
    if diff.strongly_typed_only(trt):
        if want != onnx_precision:
            raise InvalidInputError(
                f"TensorRT {ver} is strongly typed only: the engine's precision is the ONNX's ({onnx_precision}). "
                f"For {want}, build from a {want} ONNX: "
                + ("`fer-edge quantize MODEL.onnx --calib DATA --precision int8` (Q/DQ)" if want == "int8" else
                   "`fer-edge quantize MODEL.onnx --precision fp16`" if want == "fp16" else "the FP32 export"))
        if config.int8_recipe == "calibrator":
            raise InvalidInputError(f"TensorRT {ver} has no INT8 calibrators (removed in 11.0); use a Q/DQ ONNX")
        return Recipe(want, True, (), False)
    if want == "int8" and onnx_precision == "int8":  # explicit quantization (Q/DQ ONNX)
        if config.int8_recipe == "calibrator":
            raise InvalidInputError("the ONNX is already Q/DQ INT8; a calibrator applies to FP32 ONNX models only")
        if diff.has_strongly_typed(trt):
            return Recipe("int8", True, (), False)
        return Recipe("int8", False, ("INT8", "FP16"), False)  # 8.x reads Q/DQ with the INT8 flag set
    if want == "int8":
        if onnx_precision != "fp32":
            raise InvalidInputError(f"INT8 by calibration needs an FP32 ONNX, this one is {onnx_precision}")
        if config.int8_recipe == "qdq":
            raise InvalidInputError("int8_recipe='qdq' needs a Q/DQ ONNX: run `fer-edge quantize` first")
        return Recipe("int8", False, ("INT8", "FP16"), True)
    if want == "fp16" and onnx_precision == "fp16":
        if diff.has_strongly_typed(trt):
            return Recipe("fp16", True, (), False)
        return Recipe("fp16", False, ("FP16",), False)
    if want == "fp16" and onnx_precision == "fp32":
        if diff.has_strongly_typed(trt):
            log.warning("TensorRT %s: FP16 from an FP32 ONNX uses the weakly typed FP16 flag (deprecated since "
                        "10.12, gone in 11); an FP16 ONNX (`fer-edge quantize --precision fp16`) builds strongly "
                        "typed", ver)
        return Recipe("fp16", False, ("FP16",), False)
    if want == "fp32" and onnx_precision == "fp32":
        return Recipe("fp32", False, (), False)
    raise InvalidInputError(f"cannot build a {want} engine from a {onnx_precision} ONNX; build from the FP32 ONNX "
                            f"or pass --precision {onnx_precision}")


def onnx_facts(onnx_path) -> Tuple[ModelCard, str, Tuple[Any, ...], bytes]:
    """(card, input name, input shape, raw bytes) of an ONNX model, read with ONNX Runtime (no onnx package)."""
    path = Path(onnx_path)
    if path.is_dir():
        raise ModelFormatError(f"{path} is a directory; pass the .onnx model file")
    if not path.is_file():
        raise ModelFormatError(f"ONNX model not found: {path}")
    import onnxruntime as ort

    data = path.read_bytes()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's own exception types
        raise ModelFormatError(f"{path} is not a loadable ONNX model: {str(exc).splitlines()[0]}") from exc
    from ..integrity import ModelBytes, verify_integrity

    parsed = ModelBytes(data, where=path.name)
    card = parsed.card()  # the one-card rule shared with the runtime and the export tools
    if card is None:
        raise ModelFormatError(f"{path.name} has no fer_edge model card; export it with `fer-edge export` so the "
                               "engine knows its labels and normalisation")
    verify_integrity(parsed, card)  # an engine is never built from a damaged or edited ONNX
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelFormatError(f"{path.name} has {len(inputs)} inputs; a classifier needs exactly one")
    return card, inputs[0].name, tuple(inputs[0].shape), data


def profile_shapes(card: ModelCard, onnx_shape, config: BuildConfig) -> List[Tuple[int, ...]]:
    """[min, opt, max] input shapes: the ONNX's static batch if it has one, else ``config.batches``."""
    static = onnx_shape[0] if isinstance(onnx_shape[0], int) and onnx_shape[0] > 0 else None
    if static is not None:
        if config.batches != (1, 8, 32) and config.batches != (static,) * 3:
            log.warning("the ONNX has a static batch of %d; ignoring batches=%s", static, config.batches)
        batches = (static,) * 3
    else:
        batches = config.batches
    return [(b,) + tuple(card.input_shape) for b in batches]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def timing_cache_path(config: BuildConfig, cache_dir: Optional[Path], trt, gpu: str, cc: str) -> Optional[Path]:
    """Where this build's timing cache lives: one file per TensorRT version and GPU (they are not portable)."""
    if config.timing_cache is None:
        return None
    if config.timing_cache != "auto":
        return Path(config.timing_cache)
    if cache_dir is None:
        from .engine_cache import default_cache_dir

        cache_dir = default_cache_dir()
    return Path(cache_dir) / "timing" / f"trt-{diff.version_text(trt)}-{_slug(gpu)}-sm{cc.replace('.', '')}.cache"


def progress_monitor(trt):
    """A ``trt.IProgressMonitor`` showing the builder's top-level phases (tqdm bar if installed, else log lines)."""

    class _Progress(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self.bars = {}
            self.phases: List[str] = []

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.phases.append(str(phase_name))
            if parent_phase:
                return
            log.info("TensorRT build: %s (%d steps)", phase_name, num_steps)
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bars[phase_name] = tqdm(total=int(num_steps), desc=f"TensorRT {phase_name}", leave=False)

        def step_complete(self, phase_name, step):
            bar = self.bars.get(phase_name)
            if bar is not None:
                bar.update(1)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            bar = self.bars.pop(phase_name, None)
            if bar is not None:
                bar.close()

    return _Progress()


def _peak_rss_mb() -> Optional[float]:
    try:
        import resource
    except ImportError:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / 2**20 if sys.platform == "darwin" else rss / 1024.0, 1)


def build_engine(onnx_path, out, config: Optional[BuildConfig] = None, *, trt=None, cuda=None, calibrator=None,
                 cache_dir=None, command: Optional[str] = None) -> EngineCard:
    """Build ``onnx_path`` into the engine ``out`` (+ ``out.json`` sidecar) for this GPU and TensorRT.

    Args:
        calibrator: a ``trt.IInt8EntropyCalibrator2`` (``fer_edge.calibration.legacy.legacy_calibrator``) for INT8
            from an FP32 ONNX on TensorRT ≤ 10.
        cache_dir: folder for the "auto" timing cache (default: the engine cache folder).

    Raises:
        InvalidInputError: a precision/DLA/version-compatibility request this TensorRT or GPU cannot honour.
        ModelFormatError: the ONNX is unreadable or TensorRT's parser rejects it.
        FerEdgeError: the build itself failed (TensorRT's last messages are in the text).
    """
    config = config or BuildConfig()
    trt = trt if trt is not None else diff.import_tensorrt("building TensorRT engines")
    if cuda is None:
        from ..cuda import cuda_api

        cuda = cuda_api()
    from .tensorrt import gpu_identity, make_logger

    out = Path(out)
    if out.is_dir():
        raise InvalidInputError(f"{out} is a directory; pass the engine file to write (e.g. {out / 'model.engine'})")
    card, input_name, onnx_shape, data = onnx_facts(onnx_path)
    gpu, cc = gpu_identity(cuda)
    recipe = build_recipe(trt, card.precision, config)
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    if recipe.precision == "int8":
        fast = diff.fast_int8(builder)
        has = fast if fast is not None else diff.gpu_has_int8(tuple(int(p) for p in cc.split(".")))
        if not has:
            raise InvalidInputError(f"this GPU ({gpu}, compute {cc}) has no INT8 support in TensorRT; build with "
                                    "--precision fp16 instead")
    if recipe.calibrator and calibrator is None:
        raise InvalidInputError("INT8 from an FP32 ONNX needs calibration: pass --calib DATA or --calib-cache FILE "
                                "(or quantize to a Q/DQ ONNX with `fer-edge quantize` and build that)")
    if config.version_compatible and not diff.has_version_compatible(trt):
        raise InvalidInputError(f"TensorRT {diff.version_text(trt)} cannot build version-compatible engines "
                                "(added in 8.6); drop --version-compatible")

    network = builder.create_network(diff.network_flags(trt, recipe.strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelFormatError(f"TensorRT's ONNX parser rejected {Path(onnx_path).name}: {'; '.join(errors)}")
    bconfig = builder.create_builder_config()
    diff.set_workspace(trt, bconfig, int(config.workspace_mb) << 20)
    for flag in recipe.flags:
        bconfig.set_flag(getattr(trt.BuilderFlag, flag))
    if recipe.calibrator:
        bconfig.int8_calibrator = calibrator
    shapes = profile_shapes(card, onnx_shape, config)
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, *shapes)
    bconfig.add_optimization_profile(profile)
    if recipe.calibrator and hasattr(bconfig, "set_calibration_profile"):
        bconfig.set_calibration_profile(profile)
    if config.version_compatible:
        bconfig.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if config.dla_core is not None:
        cores = int(getattr(builder, "num_DLA_cores", 0))
        if cores <= int(config.dla_core):
            raise InvalidInputError(f"DLA core {config.dla_core} requested but this device has {cores} DLA core(s) "
                                    "(Orin Nano and desktop GPUs have none); drop --dla")
        if recipe.precision == "fp32":
            raise InvalidInputError("DLA runs FP16 or INT8 only; pass --precision fp16 or int8 with --dla")
        bconfig.default_device_type = trt.DeviceType.DLA
        bconfig.DLA_core = int(config.dla_core)
        bconfig.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    tc_path = timing_cache_path(config, Path(cache_dir) if cache_dir else None, trt, gpu, cc)
    if tc_path is not None:
        blob = tc_path.read_bytes() if tc_path.is_file() else b""
        bconfig.set_timing_cache(bconfig.create_timing_cache(blob), False)

    monitor = None
    if diff.has_progress_monitor(trt):
        monitor = progress_monitor(trt)
        bconfig.progress_monitor = monitor
    log.warning("Building a TensorRT %s %s engine for %s on %s (compute %s): the first build can take minutes "
                "(up to ~10 on a Jetson); later runs load it from disk.", diff.version_text(trt), recipe.precision,
                Path(onnx_path).name, gpu, cc)
    t0 = time.perf_counter()
    try:
        plan = builder.build_serialized_network(network, bconfig)
    finally:
        if monitor is not None:
            for bar in monitor.bars.values():
                bar.close()
    seconds = time.perf_counter() - t0
    if plan is None:
        said = "; ".join(logger.messages[-5:]) or "no message"
        raise FerEdgeError(f"TensorRT failed to build {Path(onnx_path).name} ({said}). On an 8 GB board try a "
                           "smaller --workspace or close other GPU programs")
    plan = bytes(plan)
    if tc_path is not None:
        try:
            atomic_write_bytes(tc_path, bytes(bconfig.get_timing_cache().serialize()))
        except OSError as exc:
            log.warning("could not save the timing cache %s: %s", tc_path, exc)
    sidecar = EngineCard(
        card=card.to_dict(), tensorrt_version=diff.version_text(trt), gpu_name=gpu, compute_capability=cc,
        precision=recipe.precision, build_mode="strongly_typed" if recipe.strongly_typed else "flags",
        profile={input_name: [list(s) for s in shapes]}, onnx_sha256=hashlib.sha256(data).hexdigest(),
        engine_sha256=hashlib.sha256(plan).hexdigest(), engine_bytes=len(plan),
        built_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        build_seconds=round(seconds, 3), peak_memory_mb=_peak_rss_mb(), onnx_path=str(Path(onnx_path).resolve()),
        dla_core=config.dla_core, version_compatible=bool(config.version_compatible),
        workspace_mb=int(config.workspace_mb), build_command=command,
        extra={"flags": list(recipe.flags), "calibrated": bool(recipe.calibrator)})
    # Engine first, sidecar second: the sidecar (with the engine's sha256) is the commit marker.
    side = sidecar_path(out)
    if side.exists():
        side.unlink()
    with atomic_path(out) as tmp:
        tmp.write_bytes(plan)
    sidecar.save(out)
    if sha256_file(out) != sidecar.engine_sha256:  # another writer replaced it between the two renames
        raise FerEdgeError(f"{out} changed while it was being published; build again")
    log.warning("Built %s in %.1f s (%s, profile %s)", out, seconds, recipe.precision, shapes)
    return sidecar
