"""Legacy INT8 calibrator (TensorRT 8.5/10) against the fake tensorrt module and a host-memory CUDA layer."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from fakes.fake_cuda import FakeCudaApi
from fakes.fake_tensorrt import make_fake_tensorrt
from fer_edge.calibration.cache import CalibrationCache
from fer_edge.calibration.dataset import CalibrationSet
from fer_edge.calibration.legacy import legacy_calibrator

from fer_edge.errors import InvalidInputError


def _calib_set(n=20):
    rng = np.random.default_rng(0)
    return CalibrationSet(rng.standard_normal((n, 1, 8, 8)).astype(np.float32), None, "test")


def _build_int8(trt, calibrator):
    """What an engine builder does on TensorRT ≤ 10 with implicit INT8 (the calibrator path)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["logits"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1, 8, 8])])
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(helper.make_model(graph).SerializeToString())
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()  # a dynamic batch needs one, as on the real builder
    profile.set_shape("input", (1, 1, 8, 8), (8, 1, 8, 8), (8, 1, 8, 8))
    config.add_optimization_profile(profile)
    config.set_flag(trt.BuilderFlag.INT8)
    config.int8_calibrator = calibrator
    return builder.build_serialized_network(network, config)


@pytest.mark.parametrize("version", ["8.5.2.2", "10.3.0"])
def test_batches_in_order_then_none_then_cache_written(tmp_path, version):
    trt = make_fake_tensorrt(version)
    cuda = FakeCudaApi()
    data = _calib_set(20)
    cache = tmp_path / "model.cache"
    calib = legacy_calibrator(data, cache, batch_size=8, trt=trt, cuda=cuda)
    assert isinstance(calib, trt.IInt8EntropyCalibrator2)
    assert calib.get_algorithm() == trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2
    assert _build_int8(trt, calib) is not None
    batches = [c for c in trt.calls if c[0] == "get_batch"]
    # 20 samples, batch 8 → two full batches, then None (the remainder is not served)
    assert [b[1] is None for b in batches] == [False, False, True]
    assert len(cuda.uploads) == 2
    np.testing.assert_array_equal(cuda.uploads[0], data.inputs[0:8])
    np.testing.assert_array_equal(cuda.uploads[1], data.inputs[8:16])
    ptr = batches[0][1][0]
    np.testing.assert_array_equal(cuda.read(ptr, (8, 1, 8, 8)), data.inputs[8:16])  # device holds the last batch
    assert calib.get_batch(["input"]) is None  # stays exhausted
    # TensorRT wrote the cache through the calibrator
    written = CalibrationCache.load(cache)
    assert written.algorithm == "EntropyCalibration2" and "input" in written.scales
    assert written.version == {"8.5.2.2": (8, 5, 2), "10.3.0": (10, 3, 0)}[version]
    calib.close()
    assert not cuda.memory, "device buffers were not freed"


def test_cache_read_short_circuits_calibration(tmp_path):
    trt = make_fake_tensorrt("8.5.2.2")
    cache = tmp_path / "model.cache"
    CalibrationCache.from_amax({"input": 1.0}, (8, 5, 2)).save(cache)
    cuda = FakeCudaApi()
    calib = legacy_calibrator(_calib_set(), cache, batch_size=4, trt=trt, cuda=cuda)
    assert _build_int8(trt, calib) is not None
    assert ("calibration_cache_used", cache.read_bytes()) in trt.calls
    assert not [c for c in trt.calls if c[0] == "get_batch"]
    assert cuda.calls == [], "a cache hit must not touch the GPU"


def test_cache_only_calibrator_from_gpu_less_cache(tmp_path):
    trt = make_fake_tensorrt("10.3.0")
    cache = tmp_path / "c.cache"
    CalibrationCache.from_amax({"input": 2.0}, (10, 3, 0)).save(cache)
    calib = legacy_calibrator(None, cache, trt=trt, cuda=FakeCudaApi())
    assert calib.get_batch(["input"]) is None
    assert calib.read_calibration_cache() == cache.read_bytes()
    with pytest.raises(InvalidInputError, match="no calibration data and no cache"):
        legacy_calibrator(None, tmp_path / "missing.cache", trt=trt)


def test_minmax_calibrator_writes_minmax_cache(tmp_path):
    trt = make_fake_tensorrt("10.3.0")
    cache = tmp_path / "mm.cache"
    calib = legacy_calibrator(_calib_set(8), cache, algorithm="minmax", batch_size=4, trt=trt, cuda=FakeCudaApi())
    assert isinstance(calib, trt.IInt8MinMaxCalibrator)
    _build_int8(trt, calib)
    assert cache.read_text().startswith("TRT-100300-MinMaxCalibration")


def test_tensorrt11_has_no_calibrators_and_the_error_names_qdq(tmp_path):
    trt = make_fake_tensorrt("11.4.0.106")
    assert not hasattr(trt, "IInt8EntropyCalibrator2") and not hasattr(trt.BuilderFlag, "INT8")
    with pytest.raises(InvalidInputError, match="Q/DQ") as err:
        legacy_calibrator(_calib_set(), tmp_path / "c.cache", trt=trt)
    assert "fer-edge quantize" in str(err.value)


def test_default_tensorrt_import_uses_sys_modules(monkeypatch, tmp_path):
    trt = make_fake_tensorrt("8.5.2.2")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    calib = legacy_calibrator(_calib_set(8), tmp_path / "c.cache", batch_size=4, cuda=FakeCudaApi())
    assert isinstance(calib, trt.IInt8EntropyCalibrator2)
    assert ("IInt8Calibrator.__init__", "FerEdgeCalibrator") in trt.calls  # base __init__ was called


def test_bad_arguments(tmp_path):
    trt = make_fake_tensorrt("10.3.0")
    with pytest.raises(InvalidInputError, match="fewer than one batch"):
        legacy_calibrator(_calib_set(3), tmp_path / "c", batch_size=8, trt=trt)
    with pytest.raises(InvalidInputError, match="algorithm"):
        legacy_calibrator(_calib_set(), tmp_path / "c", algorithm="entropy", trt=trt)


def test_stale_cache_version_is_warned_about(tmp_path, caplog):
    trt = make_fake_tensorrt("10.3.0")
    cache = tmp_path / "c.cache"
    CalibrationCache.from_amax({"input": 1.0}, (8, 5, 2)).save(cache)
    calib = legacy_calibrator(None, cache, trt=trt)
    with caplog.at_level("WARNING"):
        assert calib.read_calibration_cache() is not None
    assert "8.5.2" in caplog.text and "10.3.0" in caplog.text


def test_fake_tensorrt_api_surface_per_version():
    t85, t10, t11 = (make_fake_tensorrt(v) for v in ("8.5.2.2", "10.3.0", "11.4.0.106"))
    assert hasattr(t85.Builder, "build_engine") and not hasattr(t10.Builder, "build_engine")
    assert hasattr(t85.IBuilderConfig, "max_workspace_size") and not hasattr(t10.IBuilderConfig, "max_workspace_size")
    assert not hasattr(t85.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    assert hasattr(t10.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    assert not hasattr(t11, "CalibrationAlgoType") and not hasattr(t11.IBuilderConfig(), "int8_calibrator")
    # strongly typed + precision flag fails the build on 10.x, as the real builder does
    builder = t10.Builder(t10.Logger())
    net = builder.create_network(1 << int(t10.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    cfg = builder.create_builder_config()
    cfg.set_flag(t10.BuilderFlag.FP16)
    assert builder.build_serialized_network(net, cfg) is None
