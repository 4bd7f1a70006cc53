"""Activation ranges measured in ONNX Runtime (max / percentile / entropy) and the GPU-less TensorRT cache."""

from __future__ import annotations

import numpy as np
import pytest
from fer_edge.calibration.cache import CalibrationCache
from fer_edge.calibration.ranges import (
    activation_bounds,
    activation_ranges,
    cache_from_qdq,
    calibration_cache_from_onnx,
    entropy_threshold,
    load_ranges,
    save_ranges,
)

from fer_edge.errors import InvalidInputError, ModelFormatError


def _model(path):
    """input → Mul(2) → 'doubled' → Relu → 'logits' (shape N×4)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "two"], ["doubled"]), helper.make_node("Relu", ["doubled"], ["logits"])],
        "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        initializer=[numpy_helper.from_array(np.array(2.0, np.float32), "two")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_minmax_ranges_are_the_absolute_maxima(tmp_path):
    path = _model(tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((16, 4)).astype(np.float32) for _ in range(3)]
    amax = activation_ranges(path, batches, "minmax")
    assert list(amax) == ["input", "doubled", "logits"]
    x = np.concatenate(batches)
    assert amax["input"] == pytest.approx(np.abs(x).max())
    assert amax["doubled"] == pytest.approx(2 * np.abs(x).max())
    assert amax["logits"] == pytest.approx(2 * x.max())


def test_percentile_and_entropy_clip_outliers(tmp_path):
    path = _model(tmp_path / "m.onnx")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4000, 4)).astype(np.float32)
    x[0, 0] = 40.0  # one outlier
    mx = activation_ranges(path, [x], "minmax")["input"]
    pc = activation_ranges(path, [x], "percentile", percentile=99.9)["input"]
    en = activation_ranges(path, [x], "entropy")["input"]
    assert mx == pytest.approx(40.0)
    assert 2.5 < pc < 5.0, pc
    assert 2.0 < en < 20.0, en


def test_asymmetric_bounds_keep_the_observed_side_of_zero(tmp_path):
    """uint8 activations: a ReLU output spans [0, threshold]; a signed tensor is clipped on both sides."""
    path = _model(tmp_path / "m.onnx")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4000, 4)).astype(np.float32)
    x[0, 0] = 40.0
    bounds = activation_bounds(path, [x], "entropy")
    amax = activation_ranges(path, [x], "entropy")
    assert bounds["logits"] == (0.0, pytest.approx(amax["logits"]))
    assert bounds["input"] == (pytest.approx(max(x.min(), -amax["input"])), pytest.approx(amax["input"]))
    assert activation_bounds(path, [x], "minmax")["input"] == (pytest.approx(x.min()), pytest.approx(40.0))


def test_entropy_threshold_on_a_plain_histogram():
    assert entropy_threshold(np.zeros(2048), 0.01) == 0.0
    hist = np.ones(2048)  # uniform: nothing to clip
    assert entropy_threshold(hist, 1.0) == pytest.approx(2048.0)


def test_cache_from_onnx_and_ranges_json(tmp_path):
    path = _model(tmp_path / "m.onnx")
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(16, 4)
    cache = calibration_cache_from_onnx(path, x, tmp_path / "m.cache", method="minmax", version=(8, 5, 2),
                                        ranges_json=str(tmp_path / "ranges.json"))
    text = (tmp_path / "m.cache").read_text().splitlines()
    assert text[0] == "TRT-8502-EntropyCalibration2"
    assert text[1] == "input: 3c010204"  # amax 1.0 → scale 1/127
    assert CalibrationCache.load(tmp_path / "m.cache").amax["doubled"] == pytest.approx(2.0, rel=1e-6)
    assert load_ranges(tmp_path / "ranges.json") == pytest.approx(cache.amax, rel=1e-6)
    save_ranges(tmp_path / "r2.json", {"a": 1.5})
    assert load_ranges(tmp_path / "r2.json") == {"a": 1.5}
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InvalidInputError):
        load_ranges(tmp_path / "bad.json")


def test_bad_inputs(tmp_path):
    path = _model(tmp_path / "m.onnx")
    with pytest.raises(InvalidInputError, match="method"):
        activation_ranges(path, [np.zeros((1, 4), np.float32)], "kl")
    with pytest.raises(InvalidInputError, match="no calibration batches"):
        activation_ranges(path, [], "minmax")
    with pytest.raises(ModelFormatError, match="no activation"):
        cache_from_qdq(path, tmp_path / "x.cache")


@pytest.mark.parametrize("zp_dtype, zp_value", [(np.uint8, 128), (np.int8, 3), (np.int8, 0)])
def test_cache_from_qdq_only_from_symmetric_int8(tmp_path, zp_dtype, zp_value):
    # An ONNX Runtime CPU (uint8, asymmetric) Q/DQ graph: scale * 127 is not the tensor's range.
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.array(0.02, np.float32), "s"),
         numpy_helper.from_array(np.array(zp_value, zp_dtype), "zp")],
    )
    path = tmp_path / "q.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    if zp_dtype == np.int8 and zp_value == 0:
        cache = cache_from_qdq(path, tmp_path / "q.cache")
        assert CalibrationCache.load(tmp_path / "q.cache").amax == pytest.approx({"x": 0.02 * 127}, rel=1e-6)
        assert cache.scales == pytest.approx({"x": 0.02})
        return
    with pytest.raises(ModelFormatError, match="symmetric int8"):
        cache_from_qdq(path, tmp_path / "q.cache")
    assert not (tmp_path / "q.cache").exists()
