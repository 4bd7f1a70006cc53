"""Tool front of the TensorRT builder: ``engine_from_onnx`` (Polygraphy's name) and what ``fer-edge build`` runs.

The build itself lives in the runtime (``fer_edge.backends.engine_build``) so a Jetson builds with the runtime
alone; this front adds what needs the tools: an INT8 calibrator fed from a calibration set (TensorRT ≤ 10).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from fer_edge.backends.engine_build import BuildConfig, build_engine, build_recipe, onnx_facts
from fer_edge.backends.engine_card import EngineCard
from fer_edge.backends.trt_differences import import_tensorrt
from fer_edge.errors import InvalidInputError

log = logging.getLogger(__name__)

__all__ = ["BuildConfig", "BuildResult", "engine_from_onnx", "default_engine_path"]


@dataclass(frozen=True)
class BuildResult:
    path: Path
    sidecar: EngineCard


def default_engine_path(onnx) -> Path:
    """``model.onnx`` → ``model.engine`` beside it."""
    return Path(onnx).with_suffix(".engine")


def engine_from_onnx(onnx, config: Optional[BuildConfig] = None, out=None, *, calib: Any = None,
                     calib_cache=None, trt=None, cuda=None, command: Optional[str] = None) -> BuildResult:
    """Build ``onnx`` into a TensorRT engine (+ sidecar) for this machine's GPU and TensorRT.

    Args:
        config: precision, batch profile, workspace, DLA, version compatibility, timing cache.
        out: engine path (default ``<onnx stem>.engine``).
        calib: a ``CalibrationSet`` or (N, C, H, W) array for INT8 from an FP32 ONNX (TensorRT ≤ 10).
        calib_cache: calibration cache file (read if present, written after calibrating); with ``calib=None`` it
            alone drives implicit INT8 (e.g. one written by ``fer-edge quantize --trt-cache`` on a CPU machine).
        trt, cuda: tensorrt module and CUDA layer (tests pass fakes).
    """
    config = config or BuildConfig()
    out = Path(out) if out is not None else default_engine_path(onnx)
    trt = trt if trt is not None else import_tensorrt("building TensorRT engines")
    card = onnx_facts(onnx)[0]
    recipe = build_recipe(trt, card.precision, config)
    calibrator = None
    if recipe.calibrator:
        if calib is None and calib_cache is None:
            raise InvalidInputError("INT8 from an FP32 ONNX needs --calib DATA or --calib-cache FILE on TensorRT "
                                    f"{trt.__version__}; or quantize to Q/DQ with `fer-edge quantize` and build that")
        from fer_edge.calibration.legacy import legacy_calibrator

        cache = Path(calib_cache) if calib_cache is not None else out.with_suffix(".calib.cache")
        calibrator = legacy_calibrator(calib, cache, trt=trt, cuda=cuda)
    elif calib is not None or calib_cache is not None:
        log.warning("calibration data is not used: this build is %s %s", recipe.precision,
                    "strongly typed" if recipe.strongly_typed else "without a calibrator")
    sidecar = build_engine(onnx, out, config, trt=trt, cuda=cuda, calibrator=calibrator, command=command)
    return BuildResult(out, sidecar)
