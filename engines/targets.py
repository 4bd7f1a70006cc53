"""Which precisions (and INT8 recipes) each deployment target can run, so a tool refuses early and says why."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Dict, Tuple

from fer_edge.backends.trt_differences import INT8_RECIPES_BY_MAJOR
from fer_edge.errors import InvalidInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """A deployment target.

    Attributes:
        name: CLI name.
        precisions: precisions it runs.
        int8_recipes: "qdq" (explicit Q/DQ ONNX) and/or "cache" (implicit INT8 from a calibration cache).
        slow: precisions that run but are not faster than FP32 there (warned about).
        note: one line shown in errors.
        quant_target: the ``QuantConfig.target`` whose Q/DQ graph this target runs fast ("tensorrt" or
            "onnxruntime").
    """

    name: str
    precisions: Tuple[str, ...]
    int8_recipes: Tuple[str, ...] = ()
    slow: Tuple[str, ...] = ()
    note: str = ""
    quant_target: str = "tensorrt"


def _trt_recipes(major: int) -> Tuple[str, ...]:
    """A TensorRT line's INT8 recipes in this module's words ("calibrator" = the calibration "cache" here)."""
    return tuple("cache" if r == "calibrator" else r for r in INT8_RECIPES_BY_MAJOR[major])


TARGETS: Dict[str, Target] = {
    t.name: t
    for t in (
        Target("tensorrt11", ("fp32", "fp16", "int8"), _trt_recipes(11),
               note="TensorRT 11 is strongly typed: INT8 only from Q/DQ ONNX, no calibrator or cache"),
        Target("tensorrt10", ("fp32", "fp16", "int8"), _trt_recipes(10),
               note="TensorRT 10: Q/DQ with STRONGLY_TYPED; calibrator/cache deprecated since 10.1"),
        Target("tensorrt8.5", ("fp32", "fp16", "int8"), _trt_recipes(8),
               note="TensorRT 8.5 (JetPack 5): builder flags + calibration cache"),
        Target("jetson-nano", ("fp32", "fp16"), (),
               note="Jetson Nano/TX1 (Maxwell, sm_53) has no INT8 support in TensorRT"),
        Target("onnxruntime", ("fp32", "int8", "fp16"), ("qdq",), slow=("fp16",),
               note="ONNX Runtime CPU runs Q/DQ INT8; FP16 is mostly emulated on CPU", quant_target="onnxruntime"),
    )
}


def check_precision_for_target(precision: str, target: str, recipe: str = "qdq") -> Target:
    """Raise InvalidInputError if ``target`` cannot run ``precision`` (with ``recipe`` for int8); warn if slow."""
    if target not in TARGETS:
        raise InvalidInputError(f"unknown target {target!r}; use one of {sorted(TARGETS)}")
    t = TARGETS[target]
    if precision not in t.precisions:
        can = ", ".join(t.precisions)
        raise InvalidInputError(f"target {target} cannot run {precision} ({t.note}); use --precision "
                                f"{'fp16' if 'fp16' in t.precisions else 'fp32'} (it supports {can})")
    if precision == "int8" and recipe not in t.int8_recipes:
        raise InvalidInputError(f"target {target} cannot use an INT8 {recipe} ({t.note}); use a Q/DQ ONNX from "
                                "`fer-edge quantize --precision int8` instead")
    if precision in t.slow:
        warnings.warn(f"{precision} on {target} runs but is usually not faster than fp32 ({t.note})", stacklevel=2)
    return t
