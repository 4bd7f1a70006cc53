"""TensorRT on a real GPU (gpu + trt markers: skipped without both). Run by `make gpu-check`.

Each test builds a tiny engine with the installed TensorRT and checks it against ONNX Runtime on the CPU.
"""

import json

import numpy as np
import pytest
from fakes.tiny_models import write_tiny_classifier

from fer_edge.backends import BackendOptions, backend_from_path
from fer_edge.backends.engine_build import BuildConfig, build_engine
from fer_edge.backends.engine_card import _checksum, sidecar_path
from fer_edge.backends.tensorrt import TensorRTBackend
from fer_edge.errors import EngineMismatchError

pytestmark = [pytest.mark.gpu, pytest.mark.trt]


def _reference(onnx, x):
    with backend_from_path(onnx, threads=1, backend="onnxruntime") as ort:
        return ort.infer(x)


@pytest.fixture(scope="module")
def onnx(tmp_path_factory):
    return write_tiny_classifier(tmp_path_factory.mktemp("gpu") / "tiny.onnx")


@pytest.fixture(scope="module")
def fp32_engine(onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "tiny.engine"
    build_engine(onnx, out, BuildConfig(batches=(1, 4, 8), timing_cache=None))
    return out


def test_fp32_engine_matches_onnxruntime(onnx, fp32_engine):
    rng = np.random.default_rng(0)
    with TensorRTBackend(fp32_engine) as be:
        assert be.max_batch == 8 and be.stream
        for n in (1, 3, 8, 11):  # 11: two chunks
            x = rng.standard_normal((n, 1, 48, 48)).astype(np.float32)
            np.testing.assert_allclose(be.infer(x), _reference(onnx, x), rtol=1e-3, atol=1e-3)


def test_static_batch_engine(tmp_path):
    onnx = write_tiny_classifier(tmp_path / "s4.onnx", batch=4)
    out = tmp_path / "s4.engine"
    build_engine(onnx, out, BuildConfig(timing_cache=None))
    with TensorRTBackend(out) as be:
        for n in (1, 4, 5):
            x = np.random.default_rng(n).standard_normal((n, 1, 48, 48)).astype(np.float32)
            np.testing.assert_allclose(be.infer(x), _reference(onnx, x), rtol=1e-3, atol=1e-3)


def test_cuda_graphs_device_path_and_clone(onnx, fp32_engine):
    x = np.random.default_rng(1).standard_normal((4, 1, 48, 48)).astype(np.float32)
    want = _reference(onnx, x)
    with TensorRTBackend(fp32_engine, options=BackendOptions(cuda_graphs=True)) as be:
        for _ in range(3):  # capture, then replay
            np.testing.assert_allclose(be.infer(x), want, rtol=1e-3, atol=1e-3)
        view = be.device_input(4)
        be.cuda.memcpy_htod(view.ptr, x)
        np.testing.assert_allclose(be.infer_device(4), want, rtol=1e-3, atol=1e-3)
        twin = be.clone()
        try:
            np.testing.assert_allclose(twin.infer(x), want, rtol=1e-3, atol=1e-3)
        finally:
            twin.close()


def test_fp16_engine_close_to_fp32(onnx, tmp_path):
    import tensorrt as trt

    if not hasattr(trt.BuilderFlag, "FP16"):
        pytest.skip("TensorRT 11: FP16 comes from an FP16 ONNX (covered by the fakes)")
    out = tmp_path / "h.engine"
    build_engine(onnx, out, BuildConfig(precision="fp16", timing_cache=None))
    x = np.random.default_rng(2).standard_normal((3, 1, 48, 48)).astype(np.float32)
    with TensorRTBackend(out) as be:
        np.testing.assert_allclose(be.infer(x), _reference(onnx, x), rtol=2e-2, atol=2e-2)


def test_engine_cache_builds_once(onnx, tmp_path):
    opts = BackendOptions(cache_dir=str(tmp_path / "cache"))
    with backend_from_path(onnx, backend="tensorrt", options=opts) as first:
        path = first.path
    stamp = path.stat().st_mtime_ns
    with backend_from_path(onnx, backend="tensorrt", options=opts) as second:
        assert second.path == path
    assert path.stat().st_mtime_ns == stamp


def test_sidecar_version_mismatch_is_refused(fp32_engine, tmp_path):
    copy = tmp_path / "copy.engine"
    copy.write_bytes(fp32_engine.read_bytes())
    data = json.loads(sidecar_path(fp32_engine).read_text())
    data["tensorrt_version"] = "7.0.0"
    data["checksum"] = _checksum(data)
    sidecar_path(copy).write_text(json.dumps(data))
    with pytest.raises(EngineMismatchError, match="fer-edge build"):
        TensorRTBackend(copy)
