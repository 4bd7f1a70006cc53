"""FP16 conversion around ops kept in FP32: only float inputs get a Cast, every output gets its Cast back."""

import numpy as np
import onnx
import onnxruntime as ort
from fer_edge.engines.fp16 import convert_to_fp16
from onnx import TensorProto, helper, numpy_helper


def _run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_reducesum_axes_input_stays_int64():
    # ReduceSum takes its axes as an int64 *input* from opset 13; casting it to float breaks the graph.
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["h"]),
         helper.make_node("ReduceSum", ["h", "axes"], ["y"], keepdims=1)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 1])],
        [numpy_helper.from_array(np.full((4,), 0.5, np.float32), "w"),
         numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    half = convert_to_fp16(model)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(_run(half, x), _run(model, x), atol=1e-2)
    assert [i.data_type for i in half.graph.initializer if i.name == "axes"] == [TensorProto.INT64]


def test_every_output_of_a_kept_op_is_cast_back():
    # Split (kept in FP32 here) has two outputs, both consumed downstream in FP16.
    graph = helper.make_graph(
        [helper.make_node("Split", ["x", "split"], ["a", "b"], axis=1),
         helper.make_node("Add", ["a", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
        [numpy_helper.from_array(np.array([2, 2], np.int64), "split")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    half = convert_to_fp16(model, keep_fp32=("Split",))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(_run(half, x), _run(model, x), atol=1e-2)
