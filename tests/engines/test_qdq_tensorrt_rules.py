"""The Q/DQ graph walker enforcing TensorRT's rules, on our INT8 output and on hand-made violations."""

from __future__ import annotations

import numpy as np
import pytest
from fer_edge.engines.qdq_rules import check_qdq_for_tensorrt, qdq_violations

from fer_edge.errors import ModelFormatError


def _qdq_conv(*, zp_dtype=np.int8, zp_value=0, w_scale_shape=(4,), w_axis=0, act_scale_shape=(), with_zp=True,
              bias_int32=False):
    """x → Q/DQ (activation) → Conv(W behind Q/DQ) → y: the minimal TensorRT-style pattern, knobs to break it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(np.full(act_scale_shape, 0.02, np.float32), "x_scale"),
        numpy_helper.from_array(np.full(act_scale_shape, zp_value, zp_dtype), "x_zp"),
        numpy_helper.from_array(np.full(w_scale_shape, 0.01, np.float32), "w_scale"),
        numpy_helper.from_array(np.full(w_scale_shape, zp_value, zp_dtype), "w_zp"),
    ]
    zp = (lambda n: [n]) if with_zp else (lambda n: [])
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale"] + zp("x_zp"), ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale"] + zp("x_zp"), ["xd"]),
        helper.make_node("QuantizeLinear", ["W", "w_scale"] + zp("w_zp"), ["wq"], axis=w_axis),
        helper.make_node("DequantizeLinear", ["wq", "w_scale"] + zp("w_zp"), ["wd"], axis=w_axis),
    ]
    conv_inputs = ["xd", "wd"]
    if bias_int32:
        inits += [numpy_helper.from_array(np.zeros(4, np.int32), "b_q"),
                  numpy_helper.from_array(np.full(4, 0.0002, np.float32), "b_scale"),
                  numpy_helper.from_array(np.zeros(4, np.int32), "b_zp")]
        nodes.append(helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zp"], ["bd"], axis=0))
        conv_inputs.append("bd")
    nodes.append(helper.make_node("Conv", conv_inputs, ["y"], pads=[1, 1, 1, 1]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_valid_pattern_passes():
    assert qdq_violations(_qdq_conv()) == []
    check_qdq_for_tensorrt(_qdq_conv())


@pytest.mark.parametrize("kwargs,message", [
    (dict(zp_dtype=np.uint8, zp_value=0), "uint8|TensorRT needs int8"),
    (dict(zp_value=3), "non-zero zero point"),
    (dict(with_zp=False), "no zero point"),
    (dict(w_scale_shape=()), "expected 1-D per output channel"),
    (dict(w_axis=1, w_scale_shape=(2,)), "axis 0"),
    (dict(act_scale_shape=(2,)), "TensorRT needs a scalar"),
    (dict(bias_int32=True), "int32"),
])
def test_each_violation_is_reported(kwargs, message):
    problems = qdq_violations(_qdq_conv(**kwargs))
    assert problems, kwargs
    assert any(__import__("re").search(message, p) for p in problems), problems
    with pytest.raises(ModelFormatError, match="fer-edge quantize"):
        check_qdq_for_tensorrt(_qdq_conv(**kwargs))


def test_unquantized_graph_is_rejected(tiny_onnx_model):
    import onnx

    with pytest.raises(ModelFormatError, match="not quantized"):
        check_qdq_for_tensorrt(onnx.load(str(tiny_onnx_model)))


@pytest.mark.torch
def test_our_int8_model_follows_the_rules_in_detail(pipeline):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(pipeline["int8"].path))
    assert qdq_violations(model) == []
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    qs = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    weights = [n for n in qs if n.input[0] in inits]
    acts = [n for n in qs if n.input[0] not in inits]
    assert weights and acts
    for n in qs:
        zp = inits[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any()
    for n in weights:  # symmetric per output channel: max |w| / scale == 127
        w, s = inits[n.input[0]], inits[n.input[1]]
        assert s.shape == (w.shape[0],)
        np.testing.assert_allclose(np.abs(w).reshape(w.shape[0], -1).max(1) / s, 127.0, rtol=1e-4)
    assert all(inits[n.input[1]].shape == () for n in acts)
    ops = [n.op_type for n in model.graph.node]
    adds = [n for n in model.graph.node if n.op_type == "Add"]
    producers = {o: n for n in model.graph.node for o in n.output}
    assert adds, "the test model should have a residual Add"
    for add in adds:  # residual Add inputs are quantized so TensorRT can fuse the add into the conv
        assert all(producers[i].op_type == "DequantizeLinear" for i in add.input), ops


@pytest.mark.torch
@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime"])
def test_entropy_and_percentile_really_differ_from_minmax(pipeline, tmp_path, target):
    """ORT's quantize_static entropy with default histogram sizes equals minmax; ours must not, for the TensorRT
    Q/DQ graph and for the ONNX Runtime CPU recipe (uint8 activations) alike."""
    import onnx
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx
    from onnx import numpy_helper

    def act_scales(path):
        model = onnx.load(str(path))
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        assert target != "tensorrt" or qdq_violations(model) == []
        return {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node
                if n.op_type == "QuantizeLinear" and n.input[0] not in inits}

    minmax = act_scales(pipeline["int8"].path if target == "tensorrt" else qdq_from_onnx(
        pipeline["simplify"].path, pipeline["calib"], tmp_path / "minmax.onnx", QuantConfig(target=target)).path)
    for method in ("entropy", "percentile"):
        res = qdq_from_onnx(pipeline["simplify"].path, pipeline["calib"], tmp_path / f"{method}.onnx",
                            QuantConfig(method=method, target=target))
        other = act_scales(res.path)
        assert set(other) == set(minmax)
        assert any(abs(other[k] - minmax[k]) > 1e-6 * minmax[k] for k in minmax), method
        assert all(other[k] <= minmax[k] * (1 + 1e-5) for k in minmax), method  # clipping only shrinks ranges
        assert res.details["agreement"] >= 0.9


@pytest.mark.torch
def test_tensorrt_placement_quantizes_op_inputs_only(pipeline, tmp_path):
    """Default placement: no Q/DQ on Conv/Gemm outputs (TensorRT fuses Conv+ReLU; a pre-ReLU Q wastes half the
    int8 range). ORT's own placement is still available and does quantize outputs."""
    import onnx
    from fer_edge.engines.quantize import QuantConfig, qdq_from_onnx

    def quantized_outputs(path):
        """Q nodes on Conv/Gemm/MatMul outputs, except those feeding only a residual Add (wanted by TensorRT)."""
        model = onnx.load(str(path))
        producers = {o: n for n in model.graph.node for o in n.output}
        users = {}
        for n in model.graph.node:
            for i in n.input:
                users.setdefault(i, []).append(n)

        def final_users(q):
            return [u for dq in users.get(q.output[0], []) for u in users.get(dq.output[0], [])]

        return [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in producers
                and producers[n.input[0]].op_type in ("Conv", "Gemm", "MatMul")
                and not all(u.op_type == "Add" for u in final_users(n))]

    assert quantized_outputs(pipeline["int8"].path) == []
    ort_style = qdq_from_onnx(pipeline["simplify"].path, pipeline["calib"], tmp_path / "ort.onnx",
                              QuantConfig(placement="ort", min_agreement=0.0))
    assert quantized_outputs(ort_style.path)
    assert qdq_violations(onnx.load(str(ort_style.path))) == []
