"""Activation ranges (amax per tensor) measured with ONNX Runtime on the CPU: max, percentile or entropy (KL).

The same table feeds a TensorRT calibration cache (``cache.py``) for TensorRT ≤ 10's implicit INT8, so a cache
can be produced on a machine with no GPU. Entropy follows the published TensorRT recipe: a 2048-bin histogram
of |x|, thresholds from bin 128 up, each candidate folded into 128 levels, the smallest KL divergence wins.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

from fer_edge._optional import require
from fer_edge.errors import InvalidInputError, ModelFormatError

from .cache import CalibrationCache, atomic_write_bytes

log = logging.getLogger(__name__)

METHODS = ("minmax", "percentile", "entropy")
BINS = 2048
LEVELS = 128


def _float_tensors(model) -> List[str]:
    """Names of every float32 tensor computed by the graph (graph input first, node outputs in order)."""
    onnx = require("onnx", "export", "activation range measurement")
    from onnx import TensorProto

    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits and types.get(i.name) == TensorProto.FLOAT]
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        names += [o for o in node.output if o and types.get(o) == TensorProto.FLOAT and o not in names]
    return names


def _session_with_outputs(model, names: List[str]):
    onnx = require("onnx", "export", "activation range measurement")
    import onnxruntime as ort

    model = onnx.ModelProto.FromString(model.SerializeToString())
    existing = {o.name for o in model.graph.output}
    for name in names:
        if name not in existing:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every named tensor
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def entropy_threshold(hist: np.ndarray, bin_width: float, levels: int = LEVELS, stride: int = 8) -> float:
    """amax minimising KL(P || Q) where P is ``hist`` clipped at a threshold and Q its ``levels``-level version.

    Candidate thresholds are every ``stride``-th bin from ``levels`` on (TensorRT tries every bin; 8 is ~8x faster
    and moves the threshold by at most 8/2048 of the range).
    """
    hist = np.asarray(hist, dtype=np.float64).copy()
    if hist.sum() == 0:
        return 0.0
    if len(hist) > 1:
        # The first bin holds every exact zero (half of a ReLU output): left as is, it dominates the KL search and
        # drives thresholds far too low. NVIDIA's calibrators flatten it to its neighbour's count.
        hist[0] = hist[1]
    best_kl, best_i = np.inf, len(hist)
    for i in list(range(levels, len(hist), max(1, int(stride)))) + [len(hist)]:
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()  # outliers fold into the last bin
        # Quantize the first i bins into `levels` groups; spread each group's mass over its non-empty bins.
        idx = np.minimum((np.arange(i) * levels) // i, levels - 1)
        ref = hist[:i]
        nonzero = ref > 0
        mass = np.bincount(idx, weights=ref, minlength=levels)
        count = np.bincount(idx, weights=nonzero.astype(np.float64), minlength=levels)
        q = np.where(nonzero, mass[idx] / np.maximum(count[idx], 1), 0.0)
        ps, qs = p.sum(), q.sum()
        if ps == 0 or qs == 0:
            continue
        p_n, q_n = p / ps, q / qs
        mask = p_n > 0
        if np.any(q_n[mask] == 0):
            q_n = np.where(mask & (q_n == 0), 1e-12, q_n)
        kl = float(np.sum(p_n[mask] * np.log(p_n[mask] / q_n[mask])))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return float(best_i * bin_width)


def activation_ranges(
    model_or_path,
    batches: Iterable[np.ndarray],
    method: str = "minmax",
    *,
    percentile: float = 99.999,
    names: Optional[List[str]] = None,
) -> Dict[str, float]:
    """Measure amax (the symmetric dynamic range) of every float tensor of an FP32 ONNX model.

    Args:
        model_or_path: FP32 ONNX model (path or ModelProto) with one input.
        batches: preprocessed input batches (N, C, H, W) float32; iterated twice for percentile/entropy.
        method: "minmax", "percentile" or "entropy".
        percentile: for ``method="percentile"``.
        names: tensors to measure (default: all float tensors).

    Returns:
        tensor name → amax, in graph order.
    """
    return _measure(model_or_path, batches, method, percentile, names)[0]


def activation_bounds(model_or_path, batches: Iterable[np.ndarray], method: str = "minmax", *,
                      percentile: float = 99.999, names: Optional[List[str]] = None) -> Dict[str, Tuple[float, float]]:
    """Like ``activation_ranges``, but (low, high) for asymmetric (uint8) activations: the observed values clipped
    to ±amax, so a non-negative tensor (after ReLU) keeps its whole 8-bit range for [0, amax]."""
    amax, seen = _measure(model_or_path, batches, method, percentile, names)
    return {n: (max(seen[n][0], -a), min(seen[n][1], a)) for n, a in amax.items()}


def _measure(model_or_path, batches, method, percentile, names):
    """(tensor → threshold by ``method``, tensor → (lowest, highest) value observed)."""
    if method not in METHODS:
        raise InvalidInputError(f"range method must be one of {METHODS}, got {method!r}")
    onnx = require("onnx", "export", "activation range measurement")
    model = onnx.load(str(model_or_path)) if isinstance(model_or_path, (str, Path)) else model_or_path
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        raise ModelFormatError("measure ranges on the FP32 model, not on a quantized one")
    names = names or _float_tensors(model)
    session = _session_with_outputs(model, names)
    input_name = session.get_inputs()[0].name
    out_names = [o.name for o in session.get_outputs()]
    batches = [np.ascontiguousarray(b, dtype=np.float32) for b in batches]
    if not batches:
        raise InvalidInputError("no calibration batches")
    seen = {n: (0.0, 0.0) for n in names}  # (lowest, highest) value observed; 0 always inside
    for batch in batches:
        for name, value in zip(out_names, session.run(out_names, {input_name: batch})):
            if name in seen and value.size:
                lo, hi = seen[name]
                seen[name] = (min(lo, float(value.min())), max(hi, float(value.max())))
    amax = {n: max(-lo, hi) for n, (lo, hi) in seen.items()}
    if method == "minmax":
        return amax, seen
    hists = {n: np.zeros(BINS, np.float64) for n in names}
    for batch in batches:
        for name, value in zip(out_names, session.run(out_names, {input_name: batch})):
            if name in hists and amax[name] > 0:
                h, _ = np.histogram(np.abs(value), bins=BINS, range=(0.0, amax[name]))
                hists[name] += h
    out = {}
    for name in names:
        width = amax[name] / BINS
        if amax[name] == 0:
            out[name] = 0.0
        elif method == "percentile":
            cdf = np.cumsum(hists[name]) / max(hists[name].sum(), 1)
            out[name] = float((np.searchsorted(cdf, percentile / 100.0) + 1) * width)
        else:
            out[name] = entropy_threshold(hists[name], width)
        out[name] = min(out[name], amax[name])
    return out, seen


def calibration_cache_from_onnx(
    onnx_path,
    inputs: np.ndarray,
    out,
    *,
    method: str = "entropy",
    version: Tuple[int, int, int] = (8, 5, 2),
    algorithm: str = "EntropyCalibration2",
    batch_size: int = 32,
    ranges_json: Optional[str] = None,
) -> CalibrationCache:
    """Measure ranges on an FP32 ONNX model and write a TensorRT calibration cache for it (GPU-less).

    Tensor names are the ONNX tensor names, which TensorRT's ONNX parser keeps; tensors TensorRT adds itself
    (reformatting, ``(Unnamed Layer* N)``) are not in the file and TensorRT falls back for them.

    Args:
        onnx_path: the FP32 model TensorRT will build from.
        inputs: (N, C, H, W) calibration inputs (``CalibrationSet.inputs``).
        out: cache file to write (atomically).
        method: "entropy" (matches EntropyCalibration2), "minmax" or "percentile".
        version: TensorRT version the cache header names.
        algorithm: header algorithm; should match the calibrator class TensorRT will be given.
        ranges_json: also write the amax table as JSON here.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    amax = activation_ranges(onnx_path, [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)],
                             method)
    cache = CalibrationCache.from_amax(amax, version, algorithm)
    cache.save(out)
    if ranges_json:
        save_ranges(ranges_json, amax, {"method": method, "samples": int(len(inputs))})
    log.info("wrote TensorRT calibration cache %s (%d tensors, %s)", out, len(amax), cache.header)
    return cache


def save_ranges(path, amax: Mapping[str, float], info: Optional[Mapping] = None) -> Path:
    """Write an amax table as JSON (``{"info": ..., "amax": {name: value}}``)."""
    text = json.dumps({"info": dict(info or {}), "amax": {k: float(v) for k, v in amax.items()}}, indent=1)
    return atomic_write_bytes(path, text.encode())


def load_ranges(path) -> Dict[str, float]:
    """Read an amax table written by ``save_ranges``."""
    try:
        data = json.loads(Path(path).read_text())
        return {str(k): float(v) for k, v in data["amax"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not a fer_edge ranges JSON: {exc}") from exc


def cache_from_qdq(qdq_path, out, version: Tuple[int, int, int] = (8, 5, 2),
                   algorithm: str = "EntropyCalibration2") -> CalibrationCache:
    """TensorRT cache from the activation scales of a Q/DQ model (each activation Q node's scale, keyed by the
    tensor it quantizes). Names are those of the Q/DQ graph: use it with the same (pre-processed) FP32 graph."""
    onnx = require("onnx", "export", "reading Q/DQ scales")
    from onnx import numpy_helper

    model = onnx.load(str(qdq_path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scales: Dict[str, float] = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            scale = inits.get(node.input[1])
            zero = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if zero is None or zero.dtype != np.int8 or np.any(zero != 0):
                # uint8 / asymmetric (the ONNX Runtime CPU recipe): scale * 127 is not the tensor's range.
                raise ModelFormatError(f"{qdq_path}: QuantizeLinear on {node.input[0]!r} is not symmetric int8 "
                                       "(zero point must be an int8 0); use a TensorRT-target Q/DQ model "
                                       "(`fer-edge quantize` without --target onnxruntime)")
            if scale is not None and scale.size == 1:
                scales[node.input[0]] = float(scale.reshape(()))
    if not scales:
        raise ModelFormatError(f"{qdq_path} has no activation QuantizeLinear nodes")
    cache = CalibrationCache(scales, tuple(version), algorithm)
    cache.save(out)
    return cache
