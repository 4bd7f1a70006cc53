"""Small models built by tests (never downloaded): import with ``from tiny_models import ...``."""

from pathlib import Path


def write_tiny_classifier(path: Path, *, card=None, classes: int = 8, channels: int = 1, size: int = 48,
                          batch="batch") -> Path:
    """Write a fixed-weight ONNX classifier whose verdict depends on the crop's mean brightness.

    logits = mean(x) * w + b with w = +4 for class 1 and -4 for class 2: bright crops → labels[1], dark → labels[2].
    ``card=None`` writes the default FER+ card; pass ``card=False`` for a model without one.
    ``batch``: the batch dimension, a name (dynamic) or an int (a static-batch model).
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from fer_edge.card import CARD_METADATA_KEY, FERPLUS_LABELS, ModelCard

    w = np.zeros((channels, classes), np.float32)
    w[:, 1], w[:, 2] = 4.0 / channels, -4.0 / channels
    b = np.zeros((classes,), np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if card is None:
        card = ModelCard(labels=FERPLUS_LABELS[:classes] if classes <= 8 else tuple(f"c{i}" for i in range(classes)),
                         input_size=(size, size), color="gray" if channels == 1 else "rgb",
                         mean=(0.5,) * channels, std=(0.5,) * channels, name="tiny-test", arch="tiny")
    if card is not False:
        helper.set_model_props(model, {CARD_METADATA_KEY: card.to_json()})
    onnx.save(model, str(path))
    return path
