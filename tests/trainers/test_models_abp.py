"""Accuracy Booster Plus: shapes, gates in (0, 1), the block inside ResNet-18/50 and EdgeNet, Mish."""

import pytest

torch = pytest.importorskip("torch")
from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.models import create_model  # noqa: E402
from fer_edge.trainers.models.abp import AccuracyBoosterPlus  # noqa: E402
from torch import nn  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch

_one_thread = one_thread_fixture()


@pytest.mark.parametrize("kw", [{}, {"mix": False}, {"pool": True}, {"kernel": 5}])
def test_abp_shape_and_gates_in_open_unit_interval(kw):
    torch.manual_seed(0)
    block = AccuracyBoosterPlus(8, **kw)
    x = torch.randn(4, 8, 6, 6) * 3
    y = block(x)
    assert y.shape == x.shape
    for mode in (block.train, block.eval):
        mode()
        with torch.no_grad():
            g = block.gate(x)
        assert g.shape == ((4, 8, 1, 1) if kw.get("pool") else x.shape)
        assert float(g.min()) > 0.0 and float(g.max()) < 1.0
    block.eval()
    torch.testing.assert_close(block(x), x * block.gate(x))


def test_abp_gate_is_per_position_without_pooling_and_trains():
    torch.manual_seed(0)
    block = AccuracyBoosterPlus(4)
    x = torch.randn(2, 4, 5, 5)
    g = block.gate(x).detach()
    assert float(g.std(dim=(2, 3)).min()) > 0  # spatially varying: not one gate per channel
    block(x).sum().backward()
    assert block.depthwise.weight.grad.abs().sum() > 0 and block.mix.weight.grad.abs().sum() > 0
    assert block.depthwise.groups == 4  # depthwise
    with pytest.raises(InvalidInputError, match="odd"):
        AccuracyBoosterPlus(4, kernel=2)


def test_resnet_abp_models_use_the_block_and_mish():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 48, 48)
    for name, blocks in (("resnet18_abp", 8), ("resnet50_abp", 16)):
        m = create_model(name, 8, 1).eval()
        assert sum(isinstance(b, AccuracyBoosterPlus) for b in m.modules()) == blocks
        assert any(isinstance(a, nn.Mish) for a in m.modules())
        assert m(x).shape == (2, 8)
    assert not any(isinstance(b, AccuracyBoosterPlus) for b in create_model("resnet50", 8, 1).modules())
    assert not any(isinstance(a, nn.Mish) for a in create_model("resnet18_abp", 8, 1, act="relu").modules())
    assert create_model("resnet50", 8, 1).feature_dim == 2048


def test_edgenet_abp_and_mish_options():
    torch.manual_seed(0)
    plain = create_model("edgenet_s", 8, 1)
    boosted = create_model("edgenet_s", 8, 1, abp=True, act="mish")
    assert sum(isinstance(b, AccuracyBoosterPlus) for b in boosted.modules()) == 4  # one per stage (4)
    assert any(isinstance(a, nn.Mish) for a in boosted.modules())
    assert list(plain.state_dict()) == list(create_model("edgenet_s", 8, 1, abp=False, act="relu").state_dict())
    out = boosted.forward_train(torch.randn(3, 1, 48, 48))
    assert out["logits"].shape == (3, 8)
    with pytest.raises(InvalidInputError, match="activation"):
        create_model("edgenet_s", 8, 1, act="gelu")
