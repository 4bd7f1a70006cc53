"""FP16 ONNX with FP32 inputs/outputs: how TensorRT 11 (strongly typed, no FP16 builder flag) gets FP16 engines.

Float initializers and constants become float16, a Cast follows each graph input and precedes each output so
callers keep feeding float32; ops listed in ``keep_fp32`` stay in FP32 behind their own casts. ModelOpt AutoCast
does the same job with more care (per-node range checks) and is used instead when asked for and installed.
"""

from __future__ import annotations

import logging
from typing import Dict, Iterable, Tuple

import numpy as np

from fer_edge._optional import require
from fer_edge.errors import InvalidInputError, ModelFormatError

from .artifact import (
    StepResult,
    agreement,
    atomic_path,
    attach_card,
    card_for_step,
    file_sha256,
    open_parent,
    ort_session,
    probe_batch,
    run_session,
    save_onnx,
)

log = logging.getLogger(__name__)

FP16_MAX = 65504.0
#: Ops kept in FP32 by default: reductions/normalisations that overflow or lose precision in FP16.
DEFAULT_KEEP_FP32: Tuple[str, ...] = ("Softmax", "LogSoftmax", "ReduceSum", "ReduceMean", "LayerNormalization")


def _to_fp16_array(arr: np.ndarray, name: str) -> np.ndarray:
    big = np.abs(arr) > FP16_MAX
    if np.any(big):
        log.warning("%s: %d value(s) beyond the FP16 range clipped to ±65504", name, int(big.sum()))
    return np.clip(arr, -FP16_MAX, FP16_MAX).astype(np.float16)


def _elem_types(onnx, model) -> Dict[str, int]:
    """Tensor name → ONNX element type in the FP32 model (shape inference; partial if inference fails)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # noqa: BLE001 - inference is a help here, not a requirement
        log.debug("shape inference failed (%s); treating untyped tensors as float", exc)
        inferred = model
    graph = inferred.graph
    types = {i.name: i.data_type for i in graph.initializer}
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    return types


def convert_to_fp16(model, keep_fp32: Iterable[str] = DEFAULT_KEEP_FP32):
    """Return a copy of ``model`` computing in FP16, with FP32 graph inputs and outputs."""
    onnx = require("onnx", "export", "FP16 conversion")
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    keep = set(keep_fp32)
    FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
    elem_types = _elem_types(onnx, model)

    def is_float(name: str) -> bool:
        return elem_types.get(name, FLOAT) == FLOAT  # unknown: assume float (the common case)

    for init in graph.initializer:
        if init.data_type == FLOAT:
            init.CopyFrom(numpy_helper.from_array(_to_fp16_array(numpy_helper.to_array(init), init.name), init.name))
    new_nodes = []
    count = [0]

    def cast(src: str, to: int, tag: str) -> str:
        count[0] += 1
        dst = f"{src}__{tag}{count[0]}"
        new_nodes.append(helper.make_node("Cast", [src], [dst], to=to, name=f"fer_edge_cast_{count[0]}"))
        return dst

    # Graph inputs: float32 outside, float16 inside.
    rename = {}
    for inp in graph.input:
        if inp.type.tensor_type.elem_type == FLOAT:
            rename[inp.name] = cast(inp.name, HALF, "fp16")
    outputs = {o.name for o in graph.output if o.type.tensor_type.elem_type == FLOAT}
    origin = {inner: outer for outer, inner in rename.items()}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == FLOAT:
                attr.i = HALF
            if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(_to_fp16_array(numpy_helper.to_array(attr.t), node.name),
                                                        attr.t.name))
        if node.op_type in keep:
            # Only float tensors cross the FP32 island's border: integer inputs (ReduceSum axes, Split sizes)
            # and outputs pass through untouched.
            for i, name in enumerate(node.input):
                if name and is_float(origin.get(name, name)):
                    node.input[i] = cast(name, FLOAT, "fp32")
            backs = []
            for i, name in enumerate(node.output):
                if name and is_float(name):
                    inner = f"{name}__fp32out"
                    node.output[i] = inner
                    backs.append(helper.make_node("Cast", [inner], [name], to=HALF, name=f"fer_edge_back_{name}"))
            new_nodes.append(node)
            new_nodes.extend(backs)
            continue
        new_nodes.append(node)
    # Graph outputs: the producer writes a float16 tensor, a Cast restores float32 under the public name.
    final = []
    for node in new_nodes:
        final.append(node)
        for i, name in enumerate(node.output):
            if name in outputs:
                inner = f"{name}__fp16"
                node.output[i] = inner
                final.append(helper.make_node("Cast", [inner], [name], to=FLOAT, name=f"fer_edge_out_{name}"))
    del graph.node[:]
    graph.node.extend(final)
    del graph.value_info[:]  # float32 annotations are stale; shapes are re-inferred by the runtime
    return model


def fp16_from_onnx(onnx_path, out=None, *, keep_fp32: Iterable[str] = DEFAULT_KEEP_FP32, tool: str = "builtin",
                   min_agreement: float = 0.98, batch: int = 32) -> StepResult:
    """Convert an FP32 ONNX model to FP16 compute with FP32 I/O, keeping its card (precision "fp16").

    Args:
        onnx_path: FP32 ``.onnx`` with a card.
        out: output path; None writes ``<stem>.fp16.onnx``.
        keep_fp32: op types left in FP32.
        tool: "builtin" (this module) or "modelopt" (ModelOpt AutoCast, if installed).
        min_agreement: smallest top-1 agreement with FP32 on random probe inputs; below it, fail.
        batch: probe inputs for the check.
    """
    onnx_path, out, model, card = open_parent(onnx_path, out, "fp16")
    if card.precision != "fp32":
        raise InvalidInputError(f"{onnx_path} is {card.precision}; convert the FP32 model to FP16")
    if tool == "modelopt":
        autocast = require("modelopt.onnx.autocast", "modelopt", "FP16 conversion with AutoCast")
        half = autocast.convert_to_mixed_precision(onnx_path=str(onnx_path), low_precision_type="fp16",
                                                   keep_io_types=True)
        tool_name = "modelopt AutoCast"
    elif tool == "builtin":
        half = convert_to_fp16(model, keep_fp32)
        tool_name = "fer_edge.engines.fp16"
    else:
        raise InvalidInputError(f"fp16 tool must be 'builtin' or 'modelopt', got {tool!r}")
    child = card_for_step(card, "fp16", file_sha256(onnx_path), tool_name, precision="fp16",
                          keep_fp32=sorted(set(keep_fp32)))
    child = attach_card(half, child)
    x = probe_batch(card, batch, seed=2)
    with atomic_path(out) as tmp:
        save_onnx(half, tmp)
        try:
            got = run_session(ort_session(tmp), x)
        except Exception as exc:
            raise ModelFormatError(f"ONNX Runtime cannot run the FP16 model of {onnx_path}: {exc}; keep the op it "
                                   "names in FP32 (keep_fp32=...)") from exc
        agree, max_diff, mean_diff = agreement(run_session(ort_session(onnx_path), x), got)
        if agree < min_agreement:
            raise ModelFormatError(f"FP16 model agrees with FP32 on only {agree:.1%} of probe inputs; keep more ops "
                                   "in FP32 or stay in FP32")
    log.info("fp16 %s → %s: top-1 agreement %.1f%%, max |Δ| %.3g", onnx_path, out, 100 * agree, max_diff)
    return StepResult(out, child, max_diff, {"agreement": agree, "mean_abs_diff": mean_diff})
