"""Shared fixtures and marker auto-skips (gpu, trt, torch, data) by what this machine has."""

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FER_EDGE_SHARED_DATA", REPO.parent / "shared" / "data"))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _has_cuda_device() -> bool:
    if _has("torch"):
        import torch

        return torch.cuda.is_available()
    return False


def pytest_collection_modifyitems(config, items):
    reasons = {
        "torch": (None if _has("torch") else "torch not installed (pip install 'fer-edge[train]')"),
        "trt": (None if _has("tensorrt") else "tensorrt not installed"),
        "gpu": (None if _has_cuda_device() else "no CUDA device"),
        "data": (None if SHARED_DATA.is_dir() else f"{SHARED_DATA} not present"),
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


def write_tiny_classifier(path: Path, *, card=None, classes: int = 8, channels: int = 1, size: int = 48) -> Path:
    """Write a fixed-weight ONNX classifier whose verdict depends on the crop's mean brightness.

    logits = mean(x) * w + b with w = +4 for class 1 and -4 for class 2: bright crops → labels[1], dark → labels[2].
    ``card=None`` writes the default FER+ card; pass ``card=False`` for a model without one.
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
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
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


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory) -> Path:
    """Path to a fixed-weight 8-class gray 48×48 ONNX classifier with a FER+ card (bright → happiness, dark → surprise)."""
    return write_tiny_classifier(tmp_path_factory.mktemp("models") / "tiny.onnx")
