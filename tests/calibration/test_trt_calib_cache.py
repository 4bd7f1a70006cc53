"""TensorRT calibration cache writer/reader: published lines (research/deploy.md §2.5) and round trips."""

from __future__ import annotations

import pytest
from fer_edge.calibration.cache import (
    CalibrationCache,
    hex_to_scale,
    parse_version_tag,
    read_calibration_cache,
    scale_to_hex,
    trt_version_tag,
    write_calibration_cache,
)

from fer_edge.errors import InvalidInputError

# Lines seen in published caches (NGC models, ORT comments, TAO exports) quoted in deploy.md §2.5.
PUBLISHED = """TRT-8401-EntropyCalibration2
input_1:0: 3c010a14
data_0: 4000889d
input: 3caa54fc
(Unnamed Layer* 64) [Shuffle]_output: 0
"""


@pytest.mark.parametrize("version,tag", [((7, 0, 0), 7000), ((7, 1, 3), 7103), ((7, 2, 2), 7202), ((8, 2, 3), 8203),
                                         ((8, 4, 1), 8401), ((8, 5, 2), 8502), ((10, 3, 0), 100300),
                                         ((10, 14, 1), 101401)])
def test_version_tags(version, tag):
    assert trt_version_tag(*version) == tag
    assert parse_version_tag(tag) == version


def test_published_hex_values_decode_to_the_documented_ranges():
    # 3c010a14 → scale 0.0078759 → amax 1.0002 (input in [-1, 1]); 4000889d → 2.00834 → amax 255.06 (raw pixels)
    assert hex_to_scale("3c010a14") == pytest.approx(0.0078759, rel=1e-4)
    assert hex_to_scale("3c010a14") * 127 == pytest.approx(1.0002, abs=1e-4)
    assert hex_to_scale("4000889d") == pytest.approx(2.00834, rel=1e-5)
    assert hex_to_scale("4000889d") * 127 == pytest.approx(255.06, abs=0.01)
    assert hex_to_scale("0") == 0.0


def test_writer_reproduces_published_lines_from_their_ranges():
    cache = CalibrationCache.from_text(PUBLISHED)
    assert cache.version == (8, 4, 1) and cache.algorithm == "EntropyCalibration2"
    assert list(cache.scales) == ["input_1:0", "data_0", "input", "(Unnamed Layer* 64) [Shuffle]_output"]
    # Re-encode from amax (what a GPU-less calibrator measures): the exact published text comes back.
    again = CalibrationCache.from_amax(cache.amax, version=(8, 4, 1))
    assert again.to_text() == PUBLISHED


def test_hex_format_lowercase_no_prefix_no_leading_zeros():
    assert scale_to_hex(1.0 / 127.0) == "3c010204"
    assert scale_to_hex(0.0) == "0"
    assert scale_to_hex(2.0 ** -130) == "80000"  # a denormal: leading zeros dropped
    assert all(c in "0123456789abcdef" for c in scale_to_hex(123.456))


def test_file_round_trip_and_tensorrt10_header(tmp_path):
    amax = {"input": 2.5, "conv1:0": 7.25, "/features/Relu_output_0": 0.125, "zero": 0.0}
    path = write_calibration_cache(tmp_path / "calib.cache", amax, version=(10, 3, 0))
    text = path.read_text()
    assert text.splitlines()[0] == "TRT-100300-EntropyCalibration2"
    back = read_calibration_cache(path)
    assert list(back) == list(amax)
    for k, v in amax.items():
        assert back[k] == pytest.approx(v, rel=1e-6)  # float32 precision
    assert CalibrationCache.load(path).to_text() == text
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_minmax_header_and_bad_files(tmp_path):
    assert CalibrationCache.from_amax({"x": 1.0}, (8, 5, 2), "MinMaxCalibration").header == "TRT-8502-MinMaxCalibration"
    with pytest.raises(InvalidInputError, match="TRT-"):
        CalibrationCache.from_text("hello\nx: 1\n")
    with pytest.raises(InvalidInputError, match="line 2"):
        CalibrationCache.from_text("TRT-8502-EntropyCalibration2\nno hex here\n")
    with pytest.raises(InvalidInputError, match="not found"):
        CalibrationCache.load(tmp_path / "missing.cache")
    with pytest.raises(InvalidInputError, match="algorithm"):
        CalibrationCache({"x": 0.1}, (8, 5, 2), "Bogus").to_text()
    with pytest.raises(InvalidInputError, match="amax"):
        CalibrationCache.from_amax({"x": float("nan")})


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0])
def test_non_finite_or_negative_amax_is_refused(value):
    # inf would be written as 7f800000 (an infinite scale) and TensorRT would build with a useless range.
    with pytest.raises(InvalidInputError, match="finite"):
        CalibrationCache.from_amax({"input": 1.0, "conv_out": value})


@pytest.mark.parametrize("body, why", [
    ("input: 7fc00000\n", "not finite"),  # NaN scale
    ("input: bf800000\n", "not finite"),  # -1.0
    ("input: 3c010a14\ninput: 3c010a14\n", "twice"),
])
def test_cache_with_unusable_scales_is_refused(body, why):
    with pytest.raises(InvalidInputError, match=why):
        CalibrationCache.from_text("TRT-8502-EntropyCalibration2\n" + body)
