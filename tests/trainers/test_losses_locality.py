"""Deep locality-preserving loss: hand-computed values (classes with fewer than k samples too), gradients, criterion."""

import pytest

torch = pytest.importorskip("torch")

from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.losses import (  # noqa: E402
    LossConfig,
    build_criterion,
    locality_preserving_loss,
    neighbour_means,
)

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch

_one_thread = one_thread_fixture()

# 1-d features: class 0 has 4 samples (>= k + 1), class 1 has 2 (< k + 1), class 2 is alone.
X = torch.tensor([[0.0], [1.0], [3.0], [10.0], [5.0], [7.0], [100.0]])
Y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
# k = 2 by hand: 0 -> {1, 3} mean 2; 1 -> {0, 3} 1.5; 3 -> {1, 0} 0.5; 10 -> {3, 1} 2; 5 -> {7}; 7 -> {5}; 100 -> none
MEANS = torch.tensor([[2.0], [1.5], [0.5], [2.0], [7.0], [5.0], [0.0]])
COUNTS = torch.tensor([2, 2, 2, 2, 1, 1, 0])
LOSS = (0.5 * (4 + 0.25 + 6.25 + 64 + 4 + 4) + 0.0) / 7  # = 41.25 / 7


def test_neighbour_means_hand_computed():
    means, counts = neighbour_means(X, Y, k=2)
    torch.testing.assert_close(means, MEANS)
    assert counts.tolist() == COUNTS.tolist()


def test_loss_value_hand_computed_and_gradient_reaches_the_features():
    x = X.clone().requires_grad_(True)
    loss = locality_preserving_loss(x, Y, k=2)
    assert loss.item() == pytest.approx(LOSS, rel=1e-6)
    loss.backward()
    # paper's gradient: (x_i − m_i) / n; the lone class-2 sample gets none
    torch.testing.assert_close(x.grad, (X - MEANS) * (COUNTS > 0).float().unsqueeze(1) / 7)
    assert x.grad[6].item() == 0.0 and x.grad[0].item() == pytest.approx(-2 / 7)


def test_k_larger_than_any_class_uses_all_other_samples():
    # k = 20 > every class: each sample is pulled to the mean of all other samples of its class
    means, counts = neighbour_means(X, Y, k=20)
    assert counts.tolist() == [3, 3, 3, 3, 1, 1, 0]
    assert means[0].item() == pytest.approx((1 + 3 + 10) / 3)
    assert means[3].item() == pytest.approx((0 + 1 + 3) / 3)


def test_multi_dimensional_nearest_not_first():
    x = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.1, 0.0], [0.0, 0.2]])
    y = torch.zeros(4, dtype=torch.long)
    means, _ = neighbour_means(x, y, k=1)
    torch.testing.assert_close(means[0], torch.tensor([0.1, 0.0]))  # nearest, not the first listed
    torch.testing.assert_close(means[1], torch.tensor([0.0, 0.2]))  # 48.04 < 49.91 < 50


def test_bad_inputs_are_clear():
    with pytest.raises(InvalidInputError, match="k >= 1"):
        locality_preserving_loss(X, Y, k=0)
    with pytest.raises(InvalidInputError, match="features"):
        locality_preserving_loss(X.view(-1), Y)
    with pytest.raises(InvalidInputError, match="lp_k"):
        LossConfig(lp_k=0)


def test_criterion_adds_weighted_term_and_needs_features():
    logits = torch.zeros(7, 3)
    crit = build_criterion(LossConfig(locality=True, lambda_lp=0.5, lp_k=2), 3)
    loss, parts = crit({"logits": logits, "features": X}, Y)
    assert parts["lp"] == pytest.approx(LOSS, rel=1e-6)
    assert parts["total"] == pytest.approx(parts["ce"] + 0.5 * LOSS, rel=1e-6)
    with pytest.raises(InvalidInputError, match="features"):
        crit({"logits": logits}, Y)
