"""BackendOptions, static-batch padding, self-description and the device-input seam of the Backend base."""

import numpy as np
import pytest
from fakes.tiny_models import write_tiny_classifier

from fer_edge import Recognizer
from fer_edge.backends import BackendOptions, backend_from_path
from fer_edge.backends.base import Backend, DeviceView
from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.errors import FerEdgeError, InvalidInputError


def _crops(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(40 + i, 36 + i, 3), dtype=np.uint8) for i in range(n)]


def test_static_batch_4_model_loads_and_matches_the_dynamic_model(tmp_path):
    static = write_tiny_classifier(tmp_path / "static4.onnx", batch=4)
    dynamic = write_tiny_classifier(tmp_path / "dynamic.onnx")
    with Recognizer(static, detector=None, threads=1) as rs, Recognizer(dynamic, detector=None, threads=1) as rd:
        assert rs.backend.static_batch == 4 and rd.backend.static_batch is None
        for n in (1, 4, 5, 9):
            crops = _crops(n, seed=n)
            got, want = rs.predict_crops(crops), rd.predict_crops(crops)
            assert len(got) == n
            np.testing.assert_allclose([[f.probs[k] for k in FERPLUS_LABELS] for f in got],
                                       [[f.probs[k] for k in FERPLUS_LABELS] for f in want], rtol=1e-5, atol=1e-6)


class Recording(Backend):
    """A host backend that records the batch shapes it is handed."""

    name = "recording"

    def __init__(self, static_batch=None, max_batch=None):
        self.card = ModelCard(labels=FERPLUS_LABELS)
        self.static_batch, self.max_batch = static_batch, max_batch
        self.shapes = []

    def _infer(self, batch):
        if self.static_batch is not None:
            assert batch.shape[0] == self.static_batch
        self.shapes.append(batch.shape[0])
        return np.repeat(batch.reshape(batch.shape[0], -1)[:, :1], 8, axis=1)


def test_padding_chunks_and_drops_padding_rows():
    be = Recording(static_batch=4)
    x = np.arange(6, dtype=np.float32)[:, None, None, None] * np.ones((6, 1, 48, 48), np.float32)
    out = be.infer(x)
    assert be.shapes == [4, 4] and out.shape == (6, 8)
    np.testing.assert_array_equal(out[:, 0], np.arange(6))
    be.warmup()
    assert be.shapes[-1] == 4  # warm-up at the fixed batch
    dyn = Recording(max_batch=3)
    dyn.infer(x)
    dyn.warmup()
    assert dyn.shapes == [3, 3, 3]  # chunks of the max batch, no padding; warm-up at the max batch


def test_backend_options_validate_and_merge_kwargs(tmp_path):
    opts = BackendOptions(threads=2, providers=["CPUExecutionProvider"], cache_dir=tmp_path)
    assert opts.providers == ("CPUExecutionProvider",) and opts.cache_dir == str(tmp_path)
    merged = BackendOptions.from_kwargs(opts, threads=1, providers=None)
    assert merged.threads == 1 and merged.providers == ("CPUExecutionProvider",)
    with pytest.raises(InvalidInputError, match="threads"):
        BackendOptions(threads=0)
    with pytest.raises(InvalidInputError, match="cuda"):
        BackendOptions(cuda="opencl")
    with pytest.raises(InvalidInputError, match="unknown backend option"):
        BackendOptions.from_kwargs(None, thread=1)
    with pytest.raises(Exception):
        opts.threads = 3  # frozen


def test_recognizer_kwargs_and_options_reach_the_backend(tiny_onnx_model):
    with Recognizer(tiny_onnx_model, detector=None, options=BackendOptions(threads=2), threads=1) as rec:
        assert rec.backend.options.threads == 1  # the explicit kwarg wins
    with Recognizer(tiny_onnx_model, detector=None, options=BackendOptions(threads=2)) as rec:
        assert rec.backend.options.threads == 2


def test_onnxruntime_backend_describes_itself(tiny_onnx_model):
    with backend_from_path(tiny_onnx_model, threads=1) as be:
        d = be.details()
        assert d["backend"] == "onnxruntime" and d["kind"] == "onnxruntime-cpu" and d["on_gpu"] is False
        assert be.label == "onnxruntime[CPUExecutionProvider]" and d["providers"] == ["CPUExecutionProvider"]
        assert d["path"] == str(tiny_onnx_model) and d["precision"] == "fp32"
        # host-only backend: no stream, no device buffer, a typed error for the device path
        assert be.stream is None and be.device_input(1) is None and be.on_gpu is False
        with pytest.raises(FerEdgeError, match="host arrays only"):
            be.infer_device(1)


def test_device_view_size():
    v = DeviceView(ptr=0x1000, shape=(2, 1, 48, 48), dtype=np.dtype(np.float16))
    assert v.nbytes == 2 * 48 * 48 * 2


def test_directory_model_path_is_a_typed_error(tmp_path):
    d = tmp_path / "model.engine"
    d.mkdir()
    with pytest.raises(FerEdgeError, match="is a directory"):
        backend_from_path(d)


def test_gpu_providers_get_the_device_ordinal():
    from fer_edge.backends.onnxruntime import provider_entries

    cpu = ["CPUExecutionProvider"]
    assert provider_entries(["CUDAExecutionProvider"] + cpu, 0) == ["CUDAExecutionProvider"] + cpu
    assert provider_entries(["CUDAExecutionProvider"] + cpu, 1) == [("CUDAExecutionProvider", {"device_id": "1"})] + cpu
