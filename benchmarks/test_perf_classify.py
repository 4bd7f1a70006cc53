"""Classifier only (``backend.infer``) at batch 1/4/16 for every configured model, backend and thread count."""

import numpy as np
import pytest

from fer_edge.backends import backend_from_path
from fer_edge.preprocess import preprocess

BACKENDS = [
    pytest.param(("onnxruntime", ("CPUExecutionProvider",), 1), id="ort-cpu-1thread"),
    pytest.param(("onnxruntime", ("CPUExecutionProvider",), None), id="ort-cpu-default"),
    pytest.param(("onnxruntime", ("CUDAExecutionProvider",), None), id="ort-cuda", marks=pytest.mark.gpu),
    pytest.param(("tensorrt", None, None), id="tensorrt", marks=[pytest.mark.gpu, pytest.mark.trt]),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, model_path):
    kind, providers, threads = request.param
    if kind == "tensorrt" and model_path.suffix not in (".engine", ".plan"):
        pytest.skip("TensorRT benchmarks need a .engine model in FER_EDGE_BENCH_MODELS")
    if kind == "onnxruntime" and model_path.suffix != ".onnx":
        pytest.skip("ONNX Runtime benchmarks need a .onnx model")
    b = backend_from_path(model_path, backend=kind, threads=threads, providers=providers)
    b.bench_threads = threads
    yield b
    b.close()


@pytest.mark.parametrize("batch", [1, 4, 16])
def test_classify(run, backend, frames, batch):
    boxes = np.tile(frames["boxes_four"], (4, 1))[:batch]
    tensor = preprocess(frames["four"], boxes, backend.card)
    out = run(lambda: backend.infer(tensor), batch=batch, model=backend.card.name, precision=backend.precision,
              backend=backend.name, threads=backend.bench_threads)
    assert out.shape == (batch, backend.card.num_classes)
