"""dlib's face ResNet as a PyTorch module: topology, weight loading, gray conversion, and parity with dlib itself
(on a synthetic network whenever dlib is installed, and on the real .dat when `make dlib-weights` fetched it)."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from fakes.dlib_writer import write_dlib_network  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.models import create_model  # noqa: E402
from fer_edge.trainers.models.dlib_resnet import (  # noqa: E402
    DLIB_GRAY_MEAN,
    DLIB_RGB_MEAN,
    DLIB_STD,
    DlibResNetBackbone,
    _padded_sum,
    load_dlib_weights,
)
from fer_edge.trainers.train import load_initial_weights  # noqa: E402

from fer_edge.errors import InvalidInputError, ModelFormatError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REAL_DAT = Path(os.environ.get("FER_EDGE_DLIB_DAT",
                               REPO / "out" / "dlib" / "dlib_face_recognition_resnet_model_v1.dat"))
HAS_DLIB = importlib.util.find_spec("dlib") is not None
MEANS_0_255 = np.array([m * 255.0 for m in DLIB_RGB_MEAN], np.float32)
TINY = dict(widths=(4, 6, 8, 8), embed_dim=5)


def randomised(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Default init plus non-trivial affine scales/shifts, so a mis-mapped tensor changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "affine" in name and name.endswith("weight"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.3 + 0.3)
            elif "affine" in name:
                p.copy_(torch.rand(p.shape, generator=g) * 0.2 - 0.1)
    return net.eval()


def dlib_input(rgb_uint8: np.ndarray) -> torch.Tensor:
    """dlib's input_rgb_image_sized: (pixel - mean_c) / 256, channels first."""
    return torch.from_numpy(((rgb_uint8.astype(np.float32) - MEANS_0_255) / 256.0).transpose(2, 0, 1)[None].copy())


def test_registered_as_a_backbone_with_every_head():
    model = create_model("dlib_resnet", 8, 1, **TINY)
    assert model(torch.zeros(2, 1, 112, 112)).shape == (2, 8)
    assert model.feature_dim == 8 and model.backbone.fc is None  # 256-D (here 8) pooled features by default
    with_desc = create_model("dlib_resnet", 8, 3, descriptor=True, **TINY)
    assert with_desc.feature_dim == 5 and with_desc(torch.zeros(1, 3, 112, 112)).shape == (1, 8)
    assert create_model("adcorre_dlib_resnet", 8, 1, **TINY)(torch.zeros(1, 1, 104, 104)).shape == (1, 8)


def test_full_size_matches_dlibs_parameter_count_and_shapes():
    bb = DlibResNetBackbone(3, descriptor=True)
    assert sum(p.numel() for p in bb.parameters()) == 5_614_592  # dlib's 29 convs + 29 affines + 256x128 fc
    assert sum(isinstance(m, torch.nn.Conv2d) for m in bb.modules()) == 29
    assert bb._sizes(150)[-1] == 2 and bb._sizes(112)[-1] == 1  # 150 px → 2×2 before the average pool


def test_inputs_below_the_minimum_size_are_refused():
    bb = DlibResNetBackbone(1, **TINY)
    assert bb.min_input_size == 103
    assert bb(torch.zeros(1, 1, 103, 103)).shape == (1, 8)
    with pytest.raises(InvalidInputError, match="at least 103 px"):
        bb(torch.zeros(1, 1, 102, 150))
    with pytest.raises(InvalidInputError, match=r"\(n, 1, H, W\)"):
        bb(torch.zeros(1, 3, 112, 112))


def test_residual_sum_zero_pads_channels_bottom_and_right():
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 1, 4, 4), 10.0)
    s = _padded_sum(a, b)
    assert s.shape == (1, 2, 4, 4)
    assert torch.all(s[0, 0, :3, :3] == 11) and torch.all(s[0, 0, 3, :] == 10) and torch.all(s[0, 0, :, 3] == 10)
    assert torch.all(s[0, 1, :3, :3] == 1) and torch.all(s[0, 1, 3, :] == 0)


def test_weights_round_trip_through_dlibs_format(tmp_path):
    src = randomised(DlibResNetBackbone(3, descriptor=True, **TINY))
    path = write_dlib_network(src, tmp_path / "tiny.dat")
    dst = DlibResNetBackbone(3, descriptor=True, **TINY).eval()
    missing, unexpected = load_dlib_weights(dst, path)
    assert missing == [] and unexpected == []
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.randn(2, 3, 120, 120)
    with torch.no_grad():
        assert torch.equal(src.descriptor(x), dst.descriptor(x))


def test_gray_model_equals_rgb_model_on_replicated_gray(tmp_path):
    rgb = randomised(DlibResNetBackbone(3, descriptor=True, **TINY), seed=1)
    path = write_dlib_network(rgb, tmp_path / "tiny.dat")
    gray = DlibResNetBackbone(1, descriptor=True, **TINY).eval()
    load_dlib_weights(gray, path)
    g = np.random.default_rng(0).integers(0, 256, (112, 112), dtype=np.uint8)
    x_rgb = dlib_input(np.repeat(g[:, :, None], 3, axis=2))
    x_gray = torch.from_numpy(((g / 255.0 - DLIB_GRAY_MEAN) / DLIB_STD).astype(np.float32))[None, None]
    with torch.no_grad():
        torch.testing.assert_close(gray.descriptor(x_gray), rgb.descriptor(x_rgb), rtol=1e-4, atol=1e-5)


def test_a_file_for_another_shape_is_refused(tmp_path):
    path = write_dlib_network(randomised(DlibResNetBackbone(3, descriptor=True, **TINY)), tmp_path / "tiny.dat")
    with pytest.raises(ModelFormatError, match="dlib_resnet expects"):
        load_dlib_weights(DlibResNetBackbone(3, descriptor=True, widths=(4, 6, 8, 16), embed_dim=5), path)
    with pytest.raises(InvalidInputError, match="one dlib_resnet backbone"):
        load_dlib_weights(create_model("resnet18", 8, 1), path)


def test_init_from_a_dat_starts_everything_but_the_classifier(tmp_path):
    src = randomised(DlibResNetBackbone(3, descriptor=True, **TINY))
    path = write_dlib_network(src, tmp_path / "tiny.dat")
    model = create_model("dlib_resnet", 8, 1, **TINY)
    missing, unexpected = load_initial_weights(model, str(path))
    assert sorted(missing) == ["head.mlp.1.bias", "head.mlp.1.weight"] and unexpected == []
    assert torch.equal(model.backbone.blocks[5].conv2.weight, src.blocks[5].conv2.weight)


def test_teacher_config_matches_dlibs_input_convention():
    cfg = TrainConfig.from_file(REPO / "configs" / "ferplus_teacher_dlib.yaml")
    assert cfg.arch == "dlib_resnet" and cfg.init_from.endswith("dlib_face_recognition_resnet_model_v1.dat")
    assert min(cfg.input_size) >= DlibResNetBackbone(1).min_input_size
    channels = 1 if cfg.color == "gray" else 3
    want_mean = (DLIB_GRAY_MEAN,) if channels == 1 else DLIB_RGB_MEAN
    assert cfg.mean == pytest.approx(want_mean, abs=1e-4) and cfg.std == pytest.approx((DLIB_STD,) * channels)


@pytest.mark.skipif(not HAS_DLIB, reason="dlib not installed (pip install dlib-bin)")
def test_parity_with_dlib_on_a_synthetic_full_size_network(tmp_path):
    import dlib

    torch.manual_seed(0)
    net = randomised(DlibResNetBackbone(3, descriptor=True))
    path = write_dlib_network(net, tmp_path / "synthetic.dat")
    reference = dlib.face_recognition_model_v1(str(path))  # dlib's own reader accepts the file
    chip = np.random.default_rng(1).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    want = np.array(reference.compute_face_descriptor(chip))
    with torch.no_grad():
        got = net.descriptor(dlib_input(chip))[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5 * max(1.0, np.abs(want).max()))


def _chips():
    import cv2
    from skimage import data

    face = cv2.resize(data.astronaut()[30:230, 140:340], (150, 150), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    return [face, rng.integers(0, 256, (150, 150, 3), dtype=np.uint8), np.full((150, 150, 3), 200, np.uint8)]


@pytest.mark.skipif(not HAS_DLIB, reason="dlib not installed (pip install dlib-bin)")
@pytest.mark.skipif(not REAL_DAT.is_file(), reason=f"{REAL_DAT} absent (make dlib-weights)")
def test_parity_with_dlib_on_the_real_face_recognition_weights():
    import dlib

    reference = dlib.face_recognition_model_v1(str(REAL_DAT))
    net = DlibResNetBackbone(3, descriptor=True).eval()
    assert load_dlib_weights(net, REAL_DAT) == ([], [])
    for chip in _chips():
        want = np.array(reference.compute_face_descriptor(chip))
        with torch.no_grad():
            got = net.descriptor(dlib_input(chip))[0].numpy()
        assert np.abs(got - want).max() < 1e-5, np.abs(got - want).max()  # measured ≤ 1.7e-6
