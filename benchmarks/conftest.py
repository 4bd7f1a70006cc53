"""Fixtures for the pytest-benchmark suites: models to parametrise over, benchmark frames, marker skips.

Run explicitly (``pytest tests/`` never collects this folder)::

    pytest benchmarks/ --benchmark-json reports/pytest-benchmark.json

Models: ``FER_EDGE_BENCH_MODELS=a.onnx,b.onnx`` (comma-separated; .onnx and .engine), else the bundled classifiers
in ``fer_edge/assets`` (``ferplus_*.onnx``), else a tiny stand-in classifier built here (timings then say little
about a real network; the benchmark's ``extra_info`` names the model).
"""

import importlib.util
import os
from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[1] / "fer_edge" / "assets"
ROUNDS = int(os.environ.get("FER_EDGE_BENCH_ROUNDS", "100"))  # timed calls per benchmark (>= 50)
WARMUP = int(os.environ.get("FER_EDGE_BENCH_WARMUP", "10"))


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _ort_has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def pytest_collection_modifyitems(config, items):
    reasons = {
        "gpu": None if _ort_has_cuda() else "no CUDA execution provider / device",
        "trt": None if _has("tensorrt") else "tensorrt not installed",
        "torch": None if _has("torch") else "torch not installed",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def configured_models():
    """(id, path or None) of every classifier to benchmark; None = the tiny stand-in."""
    env = os.environ.get("FER_EDGE_BENCH_MODELS")
    if env:
        paths = [Path(p.strip()) for p in env.split(",") if p.strip()]
    else:
        paths = sorted(ASSETS.glob("ferplus_*.onnx")) + sorted(ASSETS.glob("ferplus_*.engine"))
    if not paths:
        return [("tiny-standin", None)]
    return [(p.stem, p) for p in paths]


def pytest_generate_tests(metafunc):
    if "model_spec" in metafunc.fixturenames:
        models = configured_models()
        metafunc.parametrize("model_spec", [m for m in models], ids=[m[0] for m in models], scope="session")


def _tiny_model(path: Path) -> Path:
    """A two-layer fixed-weight gray 48x48 ONNX classifier with a FER+ card (needs the onnx package)."""
    import numpy as np
    onnx = pytest.importorskip("onnx", reason="the stand-in model needs onnx (pip install 'fer-edge[export]')")
    from onnx import TensorProto, helper, numpy_helper

    from fer_edge.card import CARD_METADATA_KEY, FERPLUS_LABELS, ModelCard

    rng = np.random.default_rng(0)
    conv = (rng.standard_normal((16, 1, 3, 3)) * 0.2).astype(np.float32)
    fc = (rng.standard_normal((16, 8)) * 0.2).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "conv_w"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "fc_w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 8])],
        initializer=[numpy_helper.from_array(conv, "conv_w"), numpy_helper.from_array(fc, "fc_w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    card = ModelCard(labels=FERPLUS_LABELS, name="tiny-standin", arch="standin")
    helper.set_model_props(model, {CARD_METADATA_KEY: card.to_json()})
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def model_path(model_spec, tmp_path_factory) -> Path:
    name, path = model_spec
    if path is None:
        return _tiny_model(tmp_path_factory.mktemp("bench_models") / "standin.onnx")
    if not Path(path).is_file():
        pytest.skip(f"benchmark model {path} does not exist")
    if Path(path).suffix in (".engine", ".plan") and not _has("tensorrt"):
        pytest.skip(f"{path.name} needs TensorRT")
    return Path(path)


@pytest.fixture(scope="session")
def frames():
    """The `fer-edge bench` frames: 640x480 with one face and with four faces (skimage astronaut head)."""
    from fer_edge.bench import benchmark_frames

    return benchmark_frames((640, 480))


@pytest.fixture
def run(benchmark):
    """``run(fn, **extra_info)``: ROUNDS timed single calls after WARMUP untimed ones (medians of >= 50)."""

    def go(fn, **info):
        benchmark.extra_info.update({k: v for k, v in info.items()})
        return benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)

    return go
