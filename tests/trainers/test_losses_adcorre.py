"""Ad-Corre losses: hand-computed values, lower bounds, absent classes, adaptive Ω, and real gradients."""

import math

import pytest

torch = pytest.importorskip("torch")

from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.losses import (  # noqa: E402
    ConfusionWindow,
    LossConfig,
    build_criterion,
    embedding_discriminator,
    feature_discriminator,
    mean_discriminator,
    row_correlation,
)

pytestmark = pytest.mark.torch

_one_thread = one_thread_fixture()


def test_row_correlation_matches_numpy_corrcoef():
    np = pytest.importorskip("numpy")
    x = torch.randn(5, 11, dtype=torch.float64)
    assert torch.allclose(row_correlation(x), torch.from_numpy(np.corrcoef(x.numpy())), atol=1e-7)


def test_fd_hand_computed():
    # a=(1,0,0), b=(0,1,0): centred dot -1/3, norms² 2/3 → ρ = -0.5.
    v = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])  # k=1, n=2, d=3
    same = feature_discriminator(v, torch.tensor([0, 0]))
    diff = feature_discriminator(v, torch.tensor([0, 1]))
    # same class: Φ=1, |1-(-0.5)| = 1.5 on 2 off-diagonal entries / (k n² = 4)
    assert same.item() == pytest.approx(2 * 1.5 / 4)
    # different class: Φ=-1, |-1-(-0.5)| = 0.5
    assert diff.item() == pytest.approx(2 * 0.5 / 4)
    # Ω doubles the weight of the pair
    omega = torch.tensor([[0.0, 2.0], [2.0, 0.0]])
    assert feature_discriminator(v, torch.tensor([0, 1]), omega).item() == pytest.approx(2 * 2 * 0.5 / 4)


def test_ed_hand_computed_and_bound_reached():
    # k=3 embeddings of one image forming a centred simplex: pairwise ρ = -1/2 → Σ_{a≠b}(1+ρ) = 6·0.5 = 3,
    # L = 3 / (n k²) = 1/3 = (k-2)/k, the lower bound.
    e = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    e = e - e.mean(dim=0)  # rows sum to zero → centred embeddings are a simplex
    v = e.unsqueeze(1)  # (k=3, n=1, d=4)
    assert embedding_discriminator(v).item() == pytest.approx(1 / 3, abs=1e-6)


@pytest.mark.parametrize("k", [2, 3, 7])
def test_ed_lower_bound_holds(k):
    torch.manual_seed(k)
    for _ in range(20):
        v = torch.nn.functional.normalize(torch.randn(k, 6, 16), dim=-1)
        assert embedding_discriminator(v).item() >= (k - 2) / k - 1e-6


def test_md_lower_bound_and_absent_classes():
    torch.manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(2, 9, 16), dim=-1)
    y = torch.tensor([0, 0, 0, 3, 3, 3, 5, 5, 5])  # classes 1, 2, 4, 6 absent
    md = mean_discriminator(v, y, num_classes=7)
    assert md.item() >= (3 - 2) / 3 - 1e-6
    # Same value when the label space is larger: absent classes play no part.
    assert mean_discriminator(v, y, num_classes=12).item() == pytest.approx(md.item())
    # Relabelling to consecutive classes gives the same value.
    assert mean_discriminator(v, torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]), 3).item() == pytest.approx(md.item())


def test_md_hand_computed_two_classes():
    # k=1, class means a=(1,0,0), b=(0,1,0) → ρ = -0.5; Σ_{c≠c'}(1+ρ) = 2·0.5 = 1; / (k C_p² = 4) = 0.25
    v = torch.tensor([[[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]])
    assert mean_discriminator(v, torch.tensor([0, 0, 1]), 5).item() == pytest.approx(0.25)


def test_md_single_class_is_zero_but_differentiable():
    v = torch.randn(2, 4, 8, requires_grad=True)
    md = mean_discriminator(v, torch.tensor([1, 1, 1, 1]), 3)
    md.backward()
    assert md.item() == 0.0 and v.grad is not None


def test_omega_rises_for_a_class_the_model_gets_wrong():
    win = ConfusionWindow(3, size=1000)
    y = torch.tensor([0, 1, 2] * 20)
    pred = y.clone()
    pred[y == 2] = 0  # class 2 always wrong
    win.update(y, pred)
    w = win.class_weights()
    assert w[2].item() == pytest.approx(1.0) and w[0].item() == pytest.approx(0.0)
    om = win.omega(torch.tensor([0, 1, 2]))
    assert om[0, 1] == pytest.approx(1.0) and om[0, 2] == pytest.approx(2.0) and om[2, 2] == 0
    # Once class 2 is recognised, its weight falls as the window slides.
    win2 = ConfusionWindow(3, size=30)
    win2.update(y, pred)
    win2.update(y[:30], y[:30])
    assert win2.class_weights()[2].item() == pytest.approx(0.0)


def test_window_keeps_only_the_last_entries():
    win = ConfusionWindow(2, size=4)
    win.update(torch.tensor([0, 0, 0, 0]), torch.tensor([1, 1, 1, 1]))
    win.update(torch.tensor([0, 0, 0]), torch.tensor([0, 0, 0]))
    assert win.recall()[0].item() == pytest.approx(3 / 4)


def test_window_survives_a_state_dict_round_trip():
    """Resume restores the criterion from its state_dict; Ω must continue from the saved window."""
    crit = build_criterion(LossConfig(adcorre=True, adaptive_omega=True, omega_window=8), 2)
    crit.window.update(torch.tensor([0, 0, 1, 1, 1]), torch.tensor([1, 1, 1, 1, 0]))
    fresh = build_criterion(LossConfig(adcorre=True, adaptive_omega=True, omega_window=8), 2)
    fresh.load_state_dict(crit.state_dict())
    y = torch.tensor([0, 1, 1])
    assert torch.equal(fresh.window.omega(y), crit.window.omega(y))
    assert int(fresh.window.ptr) == 5


def test_only_training_calls_fill_the_window():
    """A loss computed in eval mode (validation) must not feed val predictions into Ω."""
    crit = build_criterion(LossConfig(adcorre=True, adaptive_omega=True, omega_window=8), 2)
    out = {"logits": torch.tensor([[2.0, 0.0], [0.0, 2.0]]), "embeddings": torch.randn(1, 2, 4)}
    y = torch.tensor([0, 1])
    crit.eval()(out, y)
    assert int(crit.window.ptr) == 0
    crit.train()(out, y)
    assert int(crit.window.ptr) == 2


@pytest.mark.parametrize("term", ["fd", "md", "ed"])
def test_each_term_gives_gradients_to_every_embedding_head(term):
    """The published code computed these in NumPy, so no gradient reached the model."""
    from fer_edge.trainers.models import create_model

    torch.manual_seed(0)
    model = create_model("adcorre_edgenet", 4, 1)
    x = torch.randn(8, 1, 48, 48)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    v = model.forward_embeddings(x)
    assert v.shape == (4, 8, model.head.embed_dim)
    loss = {"fd": lambda: feature_discriminator(v, y), "md": lambda: mean_discriminator(v, y, 4),
            "ed": lambda: embedding_discriminator(v)}[term]()
    loss.backward()
    g = model.head.embed.weight.grad.view(4, model.head.embed_dim, -1)
    per_head = g.abs().sum(dim=(1, 2))
    assert torch.all(per_head > 0), per_head
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())


def test_criterion_adaptive_and_plain():
    from fer_edge.trainers.models import create_model, train_outputs

    torch.manual_seed(0)
    model = create_model("adcorre_edgenet", 3, 1)
    x, y = torch.randn(6, 1, 48, 48), torch.tensor([0, 0, 1, 1, 2, 2])
    for adaptive in (True, False):
        crit = build_criterion(LossConfig(adcorre=True, adaptive_omega=adaptive), 3)
        loss, parts = crit(train_outputs(model, x), y)
        assert set(parts) >= {"ce", "fd", "md", "ed", "total"}
        assert math.isfinite(loss.item())
        expected = parts["ce"] + parts["fd"] + parts["md"] + parts["ed"]
        assert parts["total"] == pytest.approx(expected, rel=1e-5)
    assert crit.window is None  # plain Ω = 1


def test_adcorre_on_plain_model_names_the_providers():
    from fer_edge.errors import InvalidInputError

    crit = build_criterion(LossConfig(adcorre=True), 3)
    with pytest.raises(InvalidInputError, match="adcorre_resnet18"):
        crit({"logits": torch.randn(2, 3)}, torch.tensor([0, 1]))
