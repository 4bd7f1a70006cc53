"""Every registered model: forward, backward, no NaN, protocol outputs, 1 and 3 channels at 48 px (104 px for
dlib's face ResNet, whose four unpadded stride-2 stages need >= 103)."""

import pytest

torch = pytest.importorskip("torch")

from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.models import create_model, list_models, train_outputs  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch

# Models that are big at 48 px on CPU (tens of M params); run with `-m slow` or in full CI.
HEAVY = {"manet", "ensemble", "esr", "esr_9", "esr_9_cbam", "xception", "adcorre_xception", "arm_xception"}


_one_thread = one_thread_fixture()


def _params(name):
    marks = [pytest.mark.slow] if name in HEAVY else []
    return [pytest.param(name, c, marks=marks, id=f"{name}-{c}ch") for c in (1, 3)]


@pytest.mark.parametrize("name,in_chans", [p for n in list_models() for p in _params(n)])
def test_model_forward_backward(name, in_chans):
    torch.manual_seed(0)
    num_classes = 5
    model = create_model(name, num_classes, in_chans)
    model.train()
    size = 104 if "dlib_resnet" in name else 48
    x = torch.randn(2, in_chans, size, size)
    out = train_outputs(model, x)
    logits = out["logits"]
    assert logits.shape == (2, num_classes)
    assert torch.isfinite(logits).all()
    loss = logits.logsumexp(dim=1).sum() - logits[:, 0].sum()
    for z in out.get("branch_logits", []):
        assert z.shape == (2, num_classes)
        loss = loss + z.logsumexp(dim=1).sum()
    if "embeddings" in out:
        k, n, d = out["embeddings"].shape
        assert n == 2 and k == getattr(model.head, "k", k)
        assert torch.allclose(out["embeddings"].norm(dim=-1), torch.ones(k, n), atol=1e-4)
        loss = loss + out["embeddings"].sum()
        assert model.forward_embeddings(x).shape == (k, 2, d)
    if "features" in out:
        assert out["features"].shape[0] == 2
        if getattr(model, "feature_dim", None):
            assert out["features"].shape[1] == model.feature_dim
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, num_classes) and torch.isfinite(y).all()


def test_unknown_model_name_lists_known():
    with pytest.raises(InvalidInputError, match="adcorre_resnet18"):
        create_model("adcore_resnet18", 7, 3)


def test_bad_sizes_and_options():
    with pytest.raises(InvalidInputError, match="num_classes"):
        create_model("resnet18", 1, 3)
    with pytest.raises(InvalidInputError, match="in_chans"):
        create_model("resnet18", 7, 2)
    with pytest.raises(InvalidInputError, match="activation"):
        create_model("resnet18", 7, 3, act="swishy")
    with pytest.raises(InvalidInputError, match="head"):
        create_model("adcorre_resnet18", 7, 3, embed_dim=1)


def test_mish_option_replaces_activations():
    model = create_model("mobilenetv3_small", 7, 1, act="mish")
    kinds = {type(m).__name__ for m in model.modules()}
    assert "Mish" in kinds
    assert not kinds & {"ReLU", "Hardswish"}
    assert "ReLU" in {type(m).__name__ for m in create_model("resnet18", 7, 1).modules()}
