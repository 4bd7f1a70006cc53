"""The dlib network reader on files written here in dlib's format (no 22 MB download, no dlib needed)."""

import bz2
import math

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from fakes.dlib_writer import dlib_network_bytes, w_alias, w_float, w_int, w_str, w_tensor  # noqa: E402
from fer_edge.trainers.dlib_format import _Reader, parse_dlib_network, read_dlib_network  # noqa: E402
from fer_edge.trainers.models.dlib_resnet import DlibResNetBackbone  # noqa: E402

from fer_edge.errors import InvalidInputError, ModelFormatError  # noqa: E402

TINY = dict(widths=(4, 6, 8, 8), embed_dim=5, descriptor=True)


def tiny_backbone(seed: int = 0) -> DlibResNetBackbone:
    torch.manual_seed(seed)
    net = DlibResNetBackbone(3, **TINY)
    with torch.no_grad():  # non-trivial affine values so a swapped gamma/beta would show
        for name, p in net.named_parameters():
            if "affine" in name:
                p.uniform_(0.2, 1.5)
    return net


def test_integers_match_dlibs_control_byte_encoding():
    # dlib: control byte = byte count | 0x80 when negative, then little-endian magnitude
    assert w_int(0) == b"\x01\x00" and w_int(150) == b"\x01\x96" and w_int(4736) == b"\x02\x80\x12"
    assert w_int(-28) == b"\x81\x1c"
    for v in (0, 1, 3, 150, 4736, 2**40 + 7, -1, -28, -70000):
        r = _Reader(w_int(v), "t")
        assert r.int() == v and r.at_end()


def test_floats_decode_the_mantissa_exponent_pairs_dlib_writes():
    # the margin 0.04 as it appears in dlib_face_recognition_resnet_model_v1.dat: mantissa 0xa3d70a, exponent -28
    assert _Reader(b"\x03\x0a\xd7\xa3\x81\x1c", "t").float() == pytest.approx(0.04, rel=1e-7)
    for v in (0.0, 1.0, -2.5, 122.782, 1e-30, 3.0e20, math.inf, -math.inf):
        assert _Reader(w_float(v), "t").float() == v
    assert math.isnan(_Reader(w_int(0) + w_int(32002), "t").float())


def test_strings_tensors_and_alias_shapes():
    arr = np.arange(6, dtype=np.float32) - 2.5
    r = _Reader(w_str("con_4") + w_tensor(arr, (1, 2, 3, 1)) + w_alias((32, 3, 7, 7)), "t")
    assert r.string() == "con_4"
    np.testing.assert_array_equal(r.tensor(), arr.reshape(1, 2, 3, 1))
    assert r.alias() == (32, 3, 7, 7) and r.at_end()


def test_tiny_network_parses_into_the_layers_and_weights_written():
    bb = tiny_backbone()
    net = parse_dlib_network(dlib_network_bytes(bb, mean_rgb=(120.0, 110.5, 100.25), size=150))
    assert net.loss == "loss_metric_2" and net.loss_settings["margin"] == pytest.approx(0.04)
    assert net.input == "input_rgb_image_sized"
    assert net.input_settings == {"mean_rgb": (120.0, 110.5, 100.25), "rows": 150, "cols": 150}
    plan = bb.dlib_plan()
    assert net.kinds() == [k for k, _ in plan if k not in ("tag", "skip")]
    assert len(net.layers) == 108 and net.wrappers == len(plan) == 130  # 22 tags/skips, as in dlib's file
    stem, fc = net.layers[0], net.layers[-1]
    np.testing.assert_array_equal(stem.weights["weight"], bb.stem_conv.weight.detach().numpy())
    np.testing.assert_array_equal(stem.weights["bias"], bb.stem_conv.bias.detach().numpy())
    assert stem.settings["stride_y"] == 2 and stem.settings["padding_y"] == 0
    aff = net.layers[1]
    np.testing.assert_array_equal(aff.weights["gamma"], bb.stem_affine.weight.detach().numpy())
    np.testing.assert_array_equal(aff.weights["beta"], bb.stem_affine.bias.detach().numpy())
    np.testing.assert_array_equal(fc.weights["weight"], bb.fc.weight.detach().numpy())  # (out, in) after reading
    assert fc.settings["has_bias"] is False and "bias" not in fc.weights
    assert net.num_params == sum(p.numel() for p in bb.parameters())


def test_bz2_files_are_read_transparently(tmp_path):
    raw = dlib_network_bytes(tiny_backbone())
    (tmp_path / "net.dat.bz2").write_bytes(bz2.compress(raw))
    assert read_dlib_network(tmp_path / "net.dat.bz2").kinds() == parse_dlib_network(raw).kinds()


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(InvalidInputError, match="make dlib-weights"):
        read_dlib_network(tmp_path / "absent.dat")


@pytest.mark.parametrize("cut", [10, 400, -7])
def test_truncated_files_are_a_model_format_error(cut):
    raw = dlib_network_bytes(tiny_backbone())
    with pytest.raises(ModelFormatError, match="byte"):
        parse_dlib_network(raw[:cut])


def test_unknown_layers_and_garbage_are_refused_with_the_offset():
    raw = dlib_network_bytes(tiny_backbone())
    with pytest.raises(ModelFormatError, match="unsupported layer 'bn_con2'"):
        parse_dlib_network(raw.replace(w_str("relu_"), w_str("bn_con2"), 1))
    with pytest.raises(ModelFormatError, match="loss layer"):
        parse_dlib_network(b"\x01\x01" + w_str("loss_mmod_") + raw[40:])
    with pytest.raises(ModelFormatError):
        parse_dlib_network(b"not a dlib file at all")
    with pytest.raises(ModelFormatError, match="broken bz2"):
        parse_dlib_network(b"BZh9" + b"\x00" * 20)
