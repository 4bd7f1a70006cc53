"""TensorRT's rules for explicitly quantized (Q/DQ) ONNX graphs, checked by walking the graph.

TensorRT accepts only symmetric INT8: every zero point is an int8 0, scales are build-time constants, weight
scales are 1-D along the output-channel axis, activation scales are scalars (research/deploy.md §2.6).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from fer_edge.errors import ModelFormatError

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def _initializers(model) -> Dict[str, np.ndarray]:
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:  # Constant nodes count as initializers for this purpose
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    inits[node.output[0]] = numpy_helper.to_array(attr.t)
    return inits


def _axis(node) -> int:
    for attr in node.attribute:
        if attr.name == "axis":
            return int(attr.i)
    return 1  # ONNX default


def _weight_out_axis(consumer, input_index: int) -> Tuple[int, str]:
    """The output-channel axis of a weight feeding ``consumer`` at ``input_index``."""
    attrs = {a.name: a for a in consumer.attribute}
    if consumer.op_type == "Conv":
        return 0, "Conv weight [K, C, R, S]"
    if consumer.op_type == "ConvTranspose":
        return 1, "ConvTranspose weight [C, K/groups, R, S]"
    if consumer.op_type == "Gemm":
        trans_b = int(attrs["transB"].i) if "transB" in attrs else 0
        return (0, "Gemm weight transposed [N, K]") if trans_b else (1, "Gemm weight [K, N]")
    if consumer.op_type == "MatMul":
        return 1, "MatMul weight [K, N]"
    return 0, consumer.op_type


def qdq_violations(model) -> List[str]:
    """List every way ``model`` breaks TensorRT's Q/DQ rules (empty list = acceptable).

    Checked: zero points present, int8 (not uint8) and all 0; scales constant and positive; weight (constant-fed)
    quantizers per output channel with one scale per channel on the right axis; activation quantizers per tensor
    with a scalar scale; no int32 (bias) dequantization.
    """
    inits = _initializers(model)
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers: Dict[str, list] = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    problems: List[str] = []
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        label = f"{node.op_type} {node.name or node.output[0]!r}"
        if len(node.input) < 3 or not node.input[2]:
            problems.append(f"{label}: no zero point (ONNX then defaults to uint8)")
            zp = None
        elif node.input[2] not in inits:
            problems.append(f"{label}: zero point is not a constant")
            zp = None
        else:
            zp = inits[node.input[2]]
            if zp.dtype != np.int8:
                problems.append(f"{label}: zero point dtype {zp.dtype}, TensorRT needs int8 (symmetric)")
            if np.any(zp != 0):
                problems.append(f"{label}: non-zero zero point (asymmetric quantization)")
        scale = inits.get(node.input[1])
        if scale is None:
            problems.append(f"{label}: scale is not a build-time constant")
            continue
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            problems.append(f"{label}: scale has non-positive or non-finite values")
        if zp is not None and zp.shape != scale.shape:
            problems.append(f"{label}: zero point shape {zp.shape} != scale shape {scale.shape}")
        data = node.input[0]
        # A weight quantizer is fed by a constant (Q of a float weight, or DQ of pre-quantized int8 weights).
        src = data
        if node.op_type == "DequantizeLinear" and src in producers and producers[src].op_type == "QuantizeLinear":
            src = producers[src].input[0]
        if node.op_type == "DequantizeLinear" and src in inits and inits[src].dtype == np.int32:
            problems.append(f"{label}: int32 dequantization (quantized bias); TensorRT wants float bias")
            continue
        if src in inits:
            weight = inits[src]
            # Find the quantizable op that finally consumes this weight (after the DQ).
            dq_out = node.output[0]
            if node.op_type == "QuantizeLinear":
                nxt = [c for c, _ in consumers.get(dq_out, []) if c.op_type == "DequantizeLinear"]
                dq_out = nxt[0].output[0] if nxt else dq_out
            users = consumers.get(dq_out, [])
            if weight.ndim <= 1:
                if scale.size != 1:
                    problems.append(f"{label}: 0-D/1-D constant quantized per channel")
                continue
            if scale.ndim != 1:
                problems.append(f"{label}: weight scale shape {scale.shape}; expected 1-D per output channel")
                continue
            for user, index in users:
                axis, what = _weight_out_axis(user, index)
                if _axis(node) % weight.ndim != axis or scale.shape[0] != weight.shape[axis]:
                    problems.append(
                        f"{label}: weight {src!r} of {user.op_type} ({what}) quantized on axis {_axis(node)} with "
                        f"{scale.shape[0]} scales; TensorRT needs per-channel on axis {axis} ({weight.shape[axis]})"
                    )
        elif scale.ndim != 0 and scale.size != 1:
            problems.append(f"{label}: activation scale shape {scale.shape}; TensorRT needs a scalar (per tensor)")
        elif scale.ndim != 0:
            problems.append(f"{label}: activation scale shape {scale.shape}; use a 0-D scalar")
    return problems


def check_qdq_for_tensorrt(model, where: str = "the model") -> None:
    """Raise ModelFormatError listing the violations of TensorRT's Q/DQ rules, if any."""
    problems = qdq_violations(model)
    n_q = sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear")
    if n_q == 0:
        problems.append("no QuantizeLinear nodes: the graph is not quantized")
    if problems:
        head = "; ".join(problems[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ModelFormatError(
            f"{where} is not a TensorRT-compatible Q/DQ graph: {head}. Quantize with "
            "`fer-edge quantize --precision int8` (symmetric per-channel weights, per-tensor activations)"
        )
