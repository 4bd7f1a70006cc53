"""Small models built by tests (never downloaded): import with ``from fakes.tiny_models import ...``."""

from pathlib import Path


def write_tiny_classifier(path: Path, *, card=None, classes: int = 8, channels: int = 1, size: int = 48,
                          batch="batch", qdq: bool = False, probs: bool = False) -> Path:
    """Write a fixed-weight ONNX classifier whose verdict depends on the crop's mean brightness.

    logits = mean(x) * w + b with w = +4 for class 1 and -4 for class 2: bright crops → labels[1], dark → labels[2].
    ``card=None`` writes the default FER+ card; pass ``card=False`` for a model without one.
    ``batch``: the batch dimension, a name (dynamic) or an int (a static-batch model).
    ``qdq``: put a QuantizeLinear/DequantizeLinear pair on the input (an explicit-INT8 graph, card precision int8).
    ``probs``: end in a Softmax (the output is probabilities; the default card then says ``output: probs``).
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from fer_edge.card import CARD_METADATA_KEY, FERPLUS_LABELS, ModelCard

    w = np.zeros((channels, classes), np.float32)
    w[:, 1], w[:, 2] = 4.0 / channels, -4.0 / channels
    b = np.zeros((classes,), np.float32)
    first = "input"
    nodes = []
    extra_inits = []
    if qdq:
        nodes += [helper.make_node("QuantizeLinear", ["input", "q_scale", "q_zero"], ["q"]),
                  helper.make_node("DequantizeLinear", ["q", "q_scale", "q_zero"], ["dq"])]
        extra_inits = [numpy_helper.from_array(np.array(1 / 127, np.float32), "q_scale"),
                       numpy_helper.from_array(np.array(0, np.int8), "q_zero")]
        first = "dq"
    nodes += [
        helper.make_node("GlobalAveragePool", [first], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["z" if probs else "logits"]),
    ] + ([helper.make_node("Softmax", ["z"], ["logits"], axis=1)] if probs else [])
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")] + extra_inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if card is None:
        card = ModelCard(labels=FERPLUS_LABELS[:classes] if classes <= 8 else tuple(f"c{i}" for i in range(classes)),
                         input_size=(size, size), color="gray" if channels == 1 else "rgb",
                         mean=(0.5,) * channels, std=(0.5,) * channels, name="tiny-test", arch="tiny",
                         precision="int8" if qdq else "fp32", output="probs" if probs else "logits")
    if card is not False:
        helper.set_model_props(model, {CARD_METADATA_KEY: card.to_json()})
    onnx.save(model, str(path))
    return path


def card_of(path):
    """The card a runtime backend reads from ``path`` (the backend is opened and closed again)."""
    from fer_edge.backends import backend_from_path

    with backend_from_path(path, threads=1) as backend:
        return backend.card


def infer_once(path, x):
    """Outputs of ``path`` on ``x`` through a runtime backend that is closed afterwards."""
    from fer_edge.backends import backend_from_path

    with backend_from_path(path, threads=1) as backend:
        return backend.infer(x)
