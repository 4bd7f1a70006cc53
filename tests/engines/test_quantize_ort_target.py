"""The ONNX Runtime CPU INT8 target: uint8 activations, per-channel int8 weights, runs in the runtime, has a card."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.tiny_fer import LABELS, synthetic_crops

from fer_edge.errors import InvalidInputError


def _initializers(model):
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_target_is_validated():
    from fer_edge.engines.quantize import QuantConfig

    assert QuantConfig().target == "tensorrt"
    with pytest.raises(InvalidInputError, match="target"):
        QuantConfig(target="tflite")
    with pytest.raises(InvalidInputError, match="modelopt"):
        QuantConfig(target="onnxruntime", tool="modelopt")


@pytest.fixture(scope="module")
def ort_int8(pipeline, tmp_path_factory):
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx

    out = tmp_path_factory.mktemp("ort_target") / "tiny.ort_int8.onnx"
    return qdq_from_onnx(pipeline["simplify"].path, pipeline["calib"], out, QuantConfig(target="onnxruntime"))


@pytest.mark.torch
def test_ort_target_graph_is_uint8_activations_and_per_channel_int8_weights(ort_int8):
    import onnx

    model = onnx.load(str(ort_int8.path))
    inits = _initializers(model)
    act_zps = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert act_zps and all(z.dtype == np.uint8 for z in act_zps), [z.dtype for z in act_zps]
    conv_weights = []
    producers = {o: n for n in model.graph.node for o in n.output}
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        dq = producers[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        # weights stored quantized (no float weight behind a Q/DQ pair), int8, one scale per output channel
        assert dq.input[0] in inits and inits[dq.input[0]].dtype == np.int8
        scale = inits[dq.input[1]]
        assert scale.ndim == 1 and scale.shape[0] == inits[dq.input[0]].shape[0] > 1
        conv_weights.append(inits[dq.input[0]])
        if len(conv.input) > 2:  # int32 bias (QuantizeBias=True)
            assert inits[producers[conv.input[2]].input[0]].dtype == np.int32
    assert conv_weights
    # reduce_range: 7-bit weights
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in conv_weights) <= 64


@pytest.mark.torch
def test_ort_target_runs_agrees_with_fp32_and_keeps_the_card(pipeline, ort_int8):
    from fer_edge.backends import backend_from_path

    with backend_from_path(pipeline["simplify"].path, threads=1) as fp32, \
            backend_from_path(ort_int8.path, threads=1) as int8:
        _check_ort_int8(fp32, int8)


def _check_ort_int8(fp32, int8):
    from fer_edge.preprocess import preprocess

    assert int8.card.precision == "int8"
    assert int8.card.labels == fp32.card.labels == LABELS
    last = int8.card.provenance["history"][-1]
    assert last["step"] == "quantize" and last["target"] == "onnxruntime"
    assert last["recipe"]["activation_type"] == "QUInt8" and last["recipe"]["reduce_range"] is True
    assert last["recipe"]["extra_options"]["ActivationSymmetric"] is False
    assert "ORT CPU recipe" in last["tool"]
    imgs, _ = synthetic_crops(200, seed=11)  # not the calibration set
    x = np.concatenate([preprocess(im, None, fp32.card) for im in imgs])
    agree = float(np.mean(fp32.infer(x).argmax(1) == int8.infer(x).argmax(1)))
    assert agree >= 0.98, agree


@pytest.mark.torch
def test_tensorrt_target_unchanged_and_rule_check_skipped_only_for_ort(pipeline, tmp_path, caplog):
    import logging

    import onnx
    from fer_edge.engines.qdq_rules import qdq_violations
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx

    assert qdq_violations(onnx.load(str(pipeline["int8"].path))) == []
    with caplog.at_level(logging.INFO, logger="fer_edge.engines.quantize"):
        res = qdq_from_onnx(pipeline["simplify"].path, pipeline["calib"].inputs[:32], tmp_path / "o.onnx",
                            QuantConfig(target="onnxruntime", min_agreement=0.0))
    assert "skipping the TensorRT Q/DQ rule check" in caplog.text
    assert qdq_violations(onnx.load(str(res.path))), "ORT recipe unexpectedly TensorRT-clean"


@pytest.mark.torch
def test_cli_target_onnxruntime(pipeline, tmp_path):
    import onnx
    from fakes.tiny_models import card_of

    from fer_edge.cli import main

    calib = tmp_path / "calib.npz"
    imgs, labels = synthetic_crops(64, seed=5)
    np.savez(calib, x_train=imgs, y_train=labels)
    out = tmp_path / "cli.int8.onnx"
    assert main(["quantize", str(pipeline["simplify"].path), "--calib", str(calib), "--size", "32",
                 "--target", "onnxruntime", "-o", str(out)]) == 0
    assert card_of(out).provenance["history"][-1]["target"] == "onnxruntime"
    inits = _initializers(onnx.load(str(out)))
    zps = [inits[n.input[2]] for n in onnx.load(str(out)).graph.node if n.op_type == "QuantizeLinear"]
    assert zps and all(z.dtype == np.uint8 for z in zps)
    assert main(["quantize", str(pipeline["simplify"].path), "--calib", str(calib), "--target", "onnxruntime",
                 "--tool", "modelopt", "-o", str(tmp_path / "bad.onnx")]) == 1
    assert not (tmp_path / "bad.onnx").exists()
