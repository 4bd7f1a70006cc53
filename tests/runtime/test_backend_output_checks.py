"""Run-time output checks and typed ONNX Runtime errors (issue 18, defects 2-3), also with warm-up off."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_edge.backends import backend_from_path
from fer_edge.errors import FerEdgeError, ModelFormatError

pytest.importorskip("onnx")
TOOL = Path(__file__).resolve().parents[2] / "tools" / "corrupt_artefacts.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("corrupt_artefacts", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("corrupt_artefacts", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("graph_kw, card_kw, message", [
    (dict(weights=np.full((1, 8), np.inf, np.float32)), {}, "NaN or infinite"),
    ({}, dict(output="probs"), "card says the output is probabilities"),
    (dict(duplicate_rows=True), {}, "for 2 input"),
    (dict(batch_reshape=True), {}, "failed to run"),
])
def test_bad_outputs_are_typed_errors_at_load_and_per_call(tool, tmp_path, graph_kw, card_kw, message):
    path = tool._sealed(tool._graph(**graph_kw), tool._card(**card_kw), tmp_path / "m.onnx")
    with pytest.raises(ModelFormatError, match=message):
        backend_from_path(path)  # warm-up runs two rows
    from fer_edge.backends.onnxruntime import OnnxRuntimeBackend

    with OnnxRuntimeBackend(path, warmup=False) as backend:
        with pytest.raises(ModelFormatError, match=message):
            backend.infer(np.zeros((2, 1, 48, 48), np.float32))


def test_uint8_input_graph_is_refused_at_load(tool, tmp_path):
    from onnx import TensorProto

    path = tool._sealed(tool._graph(input_type=TensorProto.UINT8), tool._card(), tmp_path / "u8.onnx")
    with pytest.raises(ModelFormatError, match="tensor\\(uint8\\) input"):
        backend_from_path(path)


def test_probabilities_that_sum_to_one_pass(tool, tmp_path):
    from onnx import helper

    model = tool._graph()
    model.graph.node[-1].CopyFrom(helper.make_node("Softmax", ["logits0"], ["logits"], axis=1))
    path = tool._sealed(model, tool._card(output="probs"), tmp_path / "probs.onnx")
    with backend_from_path(path) as backend:
        out = backend.infer(np.zeros((3, 1, 48, 48), np.float32))
    assert out.shape == (3, 8) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_a_closed_backend_is_a_typed_error(tool, tmp_path):
    path = tool.intact_model(tmp_path / "ok.onnx")
    backend = backend_from_path(path)
    backend.close()
    with pytest.raises(FerEdgeError, match="closed"):
        backend.infer(np.zeros((1, 1, 48, 48), np.float32))
