"""Explicit INT8 (Q/DQ ONNX) from a calibration set, for TensorRT 10/11 strong typing or for ONNX Runtime CPU.

Target "tensorrt" (default): ONNX Runtime ``quantize_static`` (symmetric int8, per-channel weights, per-tensor
activations, zero point 0, Q/DQ only on Conv/Gemm/Add inputs) or NVIDIA ModelOpt when asked for and installed; the
result is checked against TensorRT's Q/DQ rules (``qdq_rules``). Target "onnxruntime": the recipe ORT's CPU
kernels fuse into QLinearConv (``ORT_CPU_RECIPE``). Both are checked against the FP32 parent before publishing.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np

from fer_edge._optional import available, require
from fer_edge.card import ModelCard
from fer_edge.errors import InvalidInputError, ModelFormatError

from .artifact import (
    StepResult,
    agreement,
    atomic_path,
    attach_card,
    card_for_step,
    file_sha256,
    fixed_batch,
    load_onnx,
    open_parent,
    ort_session,
    run_session,
    save_onnx,
)
from .qdq_rules import check_qdq_for_tensorrt

log = logging.getLogger(__name__)

METHODS = ("minmax", "entropy", "percentile")
TOOLS = ("onnxruntime", "modelopt")
QUANT_TARGETS = ("tensorrt", "onnxruntime")

# ONNX Runtime CPU INT8: uint8 asymmetric activations, int8 symmetric per-channel weights, int32 biases, weights
# stored quantized (no Q/DQ pair), ORT's default op set and placement. reduce_range (7-bit weights) because the
# u8×s8 kernels of AVX2 CPUs without VNNI saturate: FER+ val 83.5 % without it vs 85.0 % with it (FP32 85.0 %).
ORT_CPU_RECIPE: Dict[str, Any] = {
    "quant_format": "QDQ",
    "activation_type": "QUInt8",
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": True,
    "extra_options": {"ActivationSymmetric": False, "WeightSymmetric": True, "QuantizeBias": True,
                      "AddQDQPairToWeight": False},
}


@dataclass(frozen=True)
class QuantConfig:
    """How to quantize.

    Attributes:
        target: "tensorrt" (default: TensorRT-style Q/DQ, checked against TensorRT's rules) or "onnxruntime"
            (``ORT_CPU_RECIPE``: a graph ONNX Runtime CPU fuses into integer kernels; ``op_types`` and
            ``placement`` do not apply, tool must be "onnxruntime").
        method: activation range calibration: "minmax", "entropy" or "percentile".
        tool: "onnxruntime" (default, always available with [export]) or "modelopt" (NVIDIA ModelOpt, if installed).
        percentile: the percentile for ``method="percentile"``.
        op_types: ops whose inputs are quantized (TensorRT: Conv/Gemm/MatMul inputs and residual Adds).
        min_agreement: smallest top-1 agreement with the FP32 parent on the calibration set; below it, fail.
        batch_size: calibration batch size fed to the calibrator.
        preprocess: run ORT's ``quant_pre_process`` (shape inference + graph optimisation) first.
        placement: "inputs" (TensorRT/ModelOpt style: Q/DQ only on the inputs of ``op_types``, so a Conv's
            pre-ReLU output is never quantized) or "ort" (ONNX Runtime's default, outputs quantized too).
    """

    method: str = "minmax"
    tool: str = "onnxruntime"
    target: str = "tensorrt"
    percentile: float = 99.999
    op_types: Tuple[str, ...] = ("Conv", "Gemm", "MatMul", "Add")
    min_agreement: float = 0.9
    batch_size: int = 16
    preprocess: bool = True
    placement: str = "inputs"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidInputError(f"calibration method must be one of {METHODS}, got {self.method!r}")
        if self.tool not in TOOLS:
            raise InvalidInputError(f"quantization tool must be one of {TOOLS}, got {self.tool!r}")
        if self.target not in QUANT_TARGETS:
            raise InvalidInputError(f"quantization target must be one of {QUANT_TARGETS}, got {self.target!r}")
        if self.target == "onnxruntime" and self.tool != "onnxruntime":
            raise InvalidInputError("target 'onnxruntime' is produced by tool 'onnxruntime'; drop --tool modelopt "
                                    "(ModelOpt writes TensorRT-style Q/DQ)")
        if self.placement not in ("inputs", "ort"):
            raise InvalidInputError(f"placement must be 'inputs' or 'ort', got {self.placement!r}")
        if not 50.0 < float(self.percentile) <= 100.0:
            raise InvalidInputError(f"percentile must be in (50, 100], got {self.percentile}")


def calibration_inputs(calib, card: ModelCard) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Turn ``calib`` (array, CalibrationSet, or a path to a folder/video/.npz) into the (N, C, H, W) float32 batch.

    Returns:
        (inputs, info) where info describes the set for the card's provenance.
    """
    from fer_edge.calibration.dataset import CalibrationSet, calibration_set_from_path

    if isinstance(calib, (str, Path)):
        calib = calibration_set_from_path(calib, card)
    if isinstance(calib, CalibrationSet):
        _check_finite(calib.inputs, calib.source or "the calibration set")
        return calib.inputs, calib.info()
    arr = np.asarray(calib)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != card.input_shape:
        raise InvalidInputError(
            f"calibration batch must be shaped (N, {', '.join(map(str, card.input_shape))}) as the card says, got "
            f"{arr.shape}; build it with fer_edge.calibration.dataset (it runs fer_edge.preprocess)"
        )
    if len(arr) == 0:
        raise InvalidInputError("calibration batch is empty; pass at least one preprocessed face")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    _check_finite(arr, "the calibration batch")
    import hashlib

    return arr, {"source": "array", "samples": int(len(arr)), "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}


def _check_finite(inputs: np.ndarray, where: str) -> None:
    """NaN/inf inputs would give NaN/inf activation ranges and a model that outputs garbage."""
    bad = int(np.sum(~np.isfinite(inputs).reshape(len(inputs), -1).all(axis=1))) if len(inputs) else 0
    if bad:
        raise InvalidInputError(f"{where} has {bad} sample(s) with NaN or inf values; calibrate on preprocessed "
                                "faces (fer_edge.preprocess output)")


def _ort_quantize(src: Path, dst: Path, inputs: np.ndarray, config: QuantConfig, input_name: str) -> str:
    require("onnxruntime.quantization", "export", "INT8 quantization")
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    step = fixed_batch(load_onnx(src)) or config.batch_size  # a static-batch model takes only its own size
    usable = len(inputs) - len(inputs) % step

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(inputs[i : i + step] for i in range(0, usable, step))

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    ort_cpu = config.target == "onnxruntime"
    if ort_cpu:
        extra: Dict[str, Any] = dict(ORT_CPU_RECIPE["extra_options"])
    else:
        extra = {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "QuantizeBias": False,  # TensorRT wants float biases (no int32 DQ)
            "AddQDQPairToWeight": True,  # float weights behind Q→DQ: TensorRT quantizes them at build time
            "DedicatedQDQPair": False,
            "CalibMovingAverage": False,
        }
        if config.placement == "inputs":
            extra["OpTypesToExcludeOutputQuantization"] = list(config.op_types)
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[config.method]
    if config.method == "percentile":
        extra["CalibPercentile"] = float(config.percentile)
    if config.method == "entropy":
        extra["TensorQuantOverrides"] = _entropy_overrides(src, inputs, step, usable, asymmetric=ort_cpu)
        method = CalibrationMethod.MinMax  # ranges come from the overrides
    if ort_cpu:
        recipe = ORT_CPU_RECIPE
        kwargs = dict(quant_format=getattr(QuantFormat, recipe["quant_format"]), per_channel=recipe["per_channel"],
                      reduce_range=recipe["reduce_range"],
                      activation_type=getattr(QuantType, recipe["activation_type"]),
                      weight_type=getattr(QuantType, recipe["weight_type"]), calibrate_method=method,
                      extra_options=extra)
        _run_quantize_static(quantize_static, src, dst, _Reader(), kwargs)
        return f"onnxruntime {onnxruntime.__version__} quantize_static ({config.method}; ORT CPU recipe)"
    _run_quantize_static(quantize_static, src, dst, _Reader(), dict(
        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8, calibrate_method=method, op_types_to_quantize=list(config.op_types),
        extra_options=extra,
    ))
    return f"onnxruntime {onnxruntime.__version__} quantize_static ({config.method})"


def _entropy_overrides(src: Path, inputs: np.ndarray, step: int, usable: int, *, asymmetric: bool) -> Dict:
    """Per-tensor ranges from TensorRT-style KL thresholds (2048 bins → 128 levels), as ORT range overrides.

    quantize_static does not forward histogram sizes, and with its defaults (128 bins, 128 levels) its entropy
    search has a single candidate, i.e. it equals minmax: asked for entropy, it would silently give minmax.
    Symmetric (int8) ranges are ±threshold; asymmetric (uint8) ones keep the observed side of zero (ReLU outputs
    get [0, threshold], not [−threshold, threshold]).
    """
    from fer_edge.calibration.ranges import activation_bounds, activation_ranges

    batches = [inputs[i : i + step] for i in range(0, usable, step)]
    if asymmetric:
        bounds = activation_bounds(src, batches, "entropy")
    else:
        bounds = {name: (-a, a) for name, a in activation_ranges(src, batches, "entropy").items()}
    return {name: [{"rmin": np.array(lo, np.float32), "rmax": np.array(hi, np.float32)}]
            for name, (lo, hi) in bounds.items() if hi > lo}


def _run_quantize_static(quantize_static, src: Path, dst: Path, reader, kwargs: Dict[str, Any]) -> None:
    chatter = io.StringIO()  # ORT prints calibration progress on stdout; keep it in the log instead
    with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
        warnings.simplefilter("ignore")
        quantize_static(str(src), str(dst), reader, **kwargs)
    if chatter.getvalue().strip():
        log.debug("onnxruntime.quantization: %s", chatter.getvalue().strip())


def _modelopt_quantize(src: Path, dst: Path, inputs: np.ndarray, config: QuantConfig) -> str:
    """NVIDIA ModelOpt ONNX PTQ on CPU (TensorRT-style placement: Q/DQ on Conv/Gemm inputs)."""
    if config.method == "percentile":
        raise InvalidInputError("ModelOpt supports method 'minmax' (its 'max') or 'entropy', not 'percentile'")
    modelopt = require("modelopt.onnx.quantization", "modelopt", "ModelOpt INT8 quantization")
    method = {"minmax": "max", "entropy": "entropy"}[config.method]
    modelopt.quantize(
        onnx_path=str(src), quantize_mode="int8", calibration_data=inputs, calibration_method=method,
        calibration_eps=["cpu"], output_path=str(dst), high_precision_dtype="fp32",
    )
    import modelopt as mo

    return f"modelopt {getattr(mo, '__version__', '?')} onnx.quantization ({method})"


def qdq_from_onnx(onnx_path, calib, out=None, config: QuantConfig = QuantConfig()) -> StepResult:
    """Quantize an FP32 ONNX model to a Q/DQ INT8 ONNX for ``config.target`` (TensorRT by default).

    Args:
        onnx_path: FP32 ``.onnx`` with a fer_edge card (from ``onnx_from_checkpoint`` / ``simplified_onnx``).
        calib: calibration data: a ``CalibrationSet``, an (N, C, H, W) float32 array of preprocessed faces, or a
            path (image folder, video, ``.npz``) turned into one by ``fer_edge.calibration.dataset``.
        out: output file; None writes ``<stem>.int8.onnx`` beside the input.
        config: quantization options.

    Returns:
        StepResult; ``details`` has top-1 ``agreement`` with FP32 and ``mean_abs_diff`` on the calibration set.

    Raises:
        ModelFormatError: no card, result breaks TensorRT's Q/DQ rules (target "tensorrt"), or agreement below
            ``config.min_agreement``.
    """
    onnx_path, out, model, card = open_parent(onnx_path, out, "int8")
    if card.precision != "fp32":
        raise InvalidInputError(f"{onnx_path} is already {card.precision}; quantize the FP32 model instead")
    inputs, calib_info = calibration_inputs(calib, card)
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="fer_edge_qdq_") as work:
        work = Path(work)
        src = onnx_path
        if config.preprocess and config.tool == "onnxruntime":
            from onnxruntime.quantization.shape_inference import quant_pre_process

            pre = work / "pre.onnx"
            try:
                quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
                src = pre
            except Exception as exc:  # an optimisation step, not required
                log.warning("quant_pre_process failed (%s); quantizing the model as is", exc)
        raw = work / "qdq.onnx"
        try:
            if config.tool == "modelopt":
                tool = _modelopt_quantize(src, raw, inputs, config)
            else:
                tool = _ort_quantize(src, raw, inputs, config, input_name)
        except (InvalidInputError, ImportError):
            raise
        except Exception as exc:
            raise ModelFormatError(f"{config.tool} could not quantize {onnx_path}: {exc}") from exc
        qmodel = load_onnx(raw)
        info = dict(calib_info, method=config.method)
        step_info: Dict[str, Any] = {"target": config.target}
        if config.target == "tensorrt":
            check_qdq_for_tensorrt(qmodel, str(out.name))
        else:
            log.info("target onnxruntime: skipping the TensorRT Q/DQ rule check (uint8 activations, int32 biases "
                     "and quantized weights are what ONNX Runtime CPU fuses, and what TensorRT refuses)")
            step_info["recipe"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in ORT_CPU_RECIPE.items()}
        child = card_for_step(card, "quantize", file_sha256(onnx_path), tool, precision="int8", calibration=info,
                              **step_info)
        child = attach_card(qmodel, child)
        with atomic_path(out) as tmp:
            save_onnx(qmodel, tmp)
            ref = run_session(ort_session(onnx_path), inputs)
            got = run_session(ort_session(tmp), inputs)
            agree, max_diff, mean_diff = agreement(ref, got)
            if agree < config.min_agreement:
                others = " or ".join(m for m in METHODS if m != config.method)
                raise ModelFormatError(
                    f"INT8 model agrees with FP32 on only {agree:.1%} of the calibration set (< "
                    f"{config.min_agreement:.0%}); try --method {others}, more calibration data, FP16 "
                    "(--precision fp16), or accept it with --min-agreement (QuantConfig.min_agreement)"
                )
    n_q = sum(1 for n in qmodel.graph.node if n.op_type == "QuantizeLinear")
    log.info("quantized %s → %s with %s on %d samples: top-1 agreement %.2f%%, max |Δ| %.3g",
             onnx_path, out, tool, len(inputs), 100 * agree, max_diff)
    return StepResult(out, child, max_diff, {"agreement": agree, "mean_abs_diff": mean_diff, "quantize_nodes": n_q,
                                             "samples": int(len(inputs))})


def modelopt_available() -> bool:
    """True when NVIDIA ModelOpt's ONNX quantizer can be imported."""
    return available("modelopt.onnx.quantization")
