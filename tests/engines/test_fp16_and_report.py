"""FP16 ONNX (FP32 I/O, card kept) and the FP32/FP16/INT8 quantization report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes.tiny_fer import LABELS, make_card, synthetic_crops
from fakes.tiny_models import card_of, infer_once  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def fp16_result(pipeline):
    from fer_edge.engines.fp16 import fp16_from_onnx

    return fp16_from_onnx(pipeline["simplify"].path)


def test_fp16_keeps_fp32_io_and_card(fp16_result, pipeline):
    import onnx
    from onnx import TensorProto

    model = onnx.load(str(fp16_result.path))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert {i.data_type for i in model.graph.initializer if i.data_type in (1, 10)} == {TensorProto.FLOAT16}
    card = card_of(fp16_result.path)
    parent = pipeline["simplify"].card
    assert card.precision == "fp16"
    assert card.integrity and card.integrity != parent.integrity  # fp16 seals its own output
    assert card.replace(precision="fp32", provenance=parent.provenance, integrity=parent.integrity) == parent
    assert card.provenance["history"][-1]["step"] == "fp16"
    x = np.random.default_rng(0).standard_normal((5,) + card.input_shape).astype(np.float32)
    ref = infer_once(pipeline["simplify"].path, x)
    got = infer_once(fp16_result.path, x)
    assert got.dtype == np.float32 and np.abs(got - ref).max() < 0.05
    assert fp16_result.details["agreement"] >= 0.98


def test_fp16_keeps_softmax_in_fp32(trained_checkpoint, tmp_path):
    import onnx
    from fer_edge.engines.export import ExportConfig, onnx_from_checkpoint
    from fer_edge.engines.fp16 import fp16_from_onnx

    probs = onnx_from_checkpoint(trained_checkpoint, tmp_path / "p.onnx", ExportConfig(output="probs"))
    half = fp16_from_onnx(probs.path)
    model = onnx.load(str(half.path))
    producers = {o: n for n in model.graph.node for o in n.output}
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    cast_in = producers[softmax.input[0]]
    assert cast_in.op_type == "Cast" and cast_in.attribute[0].i == onnx.TensorProto.FLOAT


def test_report_numbers_are_consistent(pipeline, fp16_result, tmp_path):
    from fer_edge.calibration.dataset import calibration_set_from_reader
    from fer_edge.engines.report import quantization_report, write_report

    card = make_card()
    imgs, labels = synthetic_crops(120, seed=11)
    labelled = calibration_set_from_reader(list(zip(imgs, labels.tolist())), card, size=120)
    models = {"fp32": pipeline["simplify"].path, "int8": pipeline["int8"].path, "fp16": fp16_result.path}
    report = quantization_report(models, labelled)
    rows = {r["precision"]: r for r in report["rows"]}
    assert [r["precision"] for r in report["rows"]] == ["fp32", "fp16", "int8"]
    assert rows["fp32"]["top1_agreement"] == 1.0 and rows["fp32"]["max_abs_diff"] == 0.0
    for r in rows.values():
        assert 0.9 <= r["accuracy"] <= 1.0 and 0.0 <= r["macro_f1"] <= 1.0
        assert r["mean_abs_diff"] <= r["max_abs_diff"]
        assert sum(map(sum, r["confusion"])) == 120
        assert list(r["per_class_recall"]) == list(LABELS)
    assert rows["fp16"]["max_abs_diff"] < rows["int8"]["max_abs_diff"] or rows["int8"]["max_abs_diff"] < 1e-3
    js, md = write_report(report, tmp_path / "rep")
    assert json.loads(js.read_text())["meta"]["samples"] == 120
    text = md.read_text()
    assert "| int8 |" in text and "macro-F1" in text and LABELS[0] in text


def test_report_needs_labels_and_fp32(pipeline):
    from fer_edge.calibration.dataset import CalibrationSet
    from fer_edge.engines.report import quantization_report

    from fer_edge.errors import InvalidInputError

    unlabelled = CalibrationSet(pipeline["calib"].inputs, None, "u")
    with pytest.raises(InvalidInputError, match="no labels"):
        quantization_report({"fp32": pipeline["simplify"].path}, unlabelled)
    with pytest.raises(InvalidInputError, match="fp32"):
        quantization_report({"int8": pipeline["int8"].path}, pipeline["calib"])


def test_report_refuses_models_with_another_output_kind(pipeline, trained_checkpoint, tmp_path):
    # |probs - logits| is not a quantization error: the report must refuse to compare them.
    from fer_edge.engines.export import ExportConfig, onnx_from_checkpoint
    from fer_edge.engines.report import quantization_report

    from fer_edge.errors import InvalidInputError

    probs = onnx_from_checkpoint(trained_checkpoint, tmp_path / "p.onnx", ExportConfig(output="probs"))
    with pytest.raises(InvalidInputError, match="output kind"):
        quantization_report({"fp32": pipeline["simplify"].path, "int8": probs.path}, pipeline["calib"])
