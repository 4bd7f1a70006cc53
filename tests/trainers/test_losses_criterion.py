"""Criterion: CE variants, weighted-cluster, diversity, parameter groups, config errors."""

import math

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.losses import (  # noqa: E402
    LossConfig,
    WeightedClusterLoss,
    build_criterion,
    class_weights_from_counts,
    classification_loss,
    diversity_loss,
    similarity_matrix,
)

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch

_one_thread = one_thread_fixture()


def test_hard_ce_and_label_smoothing_match_torch():
    torch.manual_seed(0)
    z, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    assert classification_loss(z, y).item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)
    assert classification_loss(z, y, label_smoothing=0.1).item() == pytest.approx(
        F.cross_entropy(z, y, label_smoothing=0.1).item(), rel=1e-6)


def test_soft_ce_hand_computed():
    z = torch.zeros(1, 2)  # log softmax = log 0.5 for both
    q = torch.tensor([[3.0, 1.0]])  # votes, renormalised to (0.75, 0.25)
    assert classification_loss(z, torch.tensor([0]), q).item() == pytest.approx(math.log(2))
    z = torch.tensor([[math.log(3.0), 0.0]])  # softmax (0.75, 0.25)
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert classification_loss(z, torch.tensor([0]), q).item() == pytest.approx(expected, rel=1e-6)


def test_class_weights():
    w = class_weights_from_counts([100, 50, 25])
    assert w[2] / w[0] == pytest.approx(4.0) and sum(w) == pytest.approx(3.0)
    with pytest.raises(InvalidInputError, match="no training images"):
        class_weights_from_counts([10, 0])
    z, y = torch.zeros(2, 3), torch.tensor([0, 2])
    loss = classification_loss(z, y, class_weights=torch.tensor([1.0, 1.0, 3.0]))
    assert loss.item() == pytest.approx((1 + 3) / 2 * math.log(3))


def test_soft_targets_required_when_configured():
    crit = build_criterion(LossConfig(soft_targets=True), 3)
    with pytest.raises(InvalidInputError, match="vote distributions"):
        crit({"logits": torch.randn(2, 3)}, torch.tensor([0, 1]))
    loss, parts = crit({"logits": torch.randn(2, 3)}, torch.tensor([0, 1]), torch.rand(2, 3))
    assert math.isfinite(parts["ce"])


def test_num_classes_mismatch_is_clear():
    crit = build_criterion(LossConfig(), 7)
    with pytest.raises(InvalidInputError, match="num_classes"):
        crit({"logits": torch.randn(2, 8)}, torch.tensor([0, 1]))
    with pytest.raises(InvalidInputError, match="class_weights"):
        build_criterion(LossConfig(class_weights=(1.0, 2.0)), 3)
    with pytest.raises(InvalidInputError):
        LossConfig(lambda_fd=-1)


def test_branch_logits_are_summed_with_weights():
    torch.manual_seed(0)
    a, b, y = torch.randn(3, 4), torch.randn(3, 4), torch.tensor([0, 1, 2])
    crit = build_criterion(LossConfig(), 4)
    loss, _ = crit({"logits": a, "branch_logits": [a, b], "branch_weights": (0.6, 0.4)}, y)
    assert loss.item() == pytest.approx(0.6 * F.cross_entropy(a, y).item() + 0.4 * F.cross_entropy(b, y).item(),
                                        rel=1e-5)


def test_weighted_cluster_hand_computed_and_gradients():
    wc = WeightedClusterLoss(2, 2, class_weights=(1.0, 2.0))
    with torch.no_grad():
        wc.centers.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))  # ‖c0 - c1‖² = 25
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0]], requires_grad=True)
    loss = wc(x, torch.tensor([0, 1]))
    # ½·1·1/(25+1) and ½·2·4/(25+1), averaged
    assert loss.item() == pytest.approx((0.5 * 1 / 26 + 0.5 * 2 * 4 / 26) / 2)
    loss.backward()
    assert x.grad.abs().sum() > 0 and wc.centers.grad.abs().sum() > 0


def test_weighted_cluster_in_criterion_has_its_own_lr():
    from fer_edge.trainers.models import create_model, train_outputs

    model = create_model("adcorre_edgenet", 3, 1)
    with pytest.raises(InvalidInputError, match="feature_dim"):
        build_criterion(LossConfig(weighted_cluster=True), 3)
    crit = build_criterion(LossConfig(weighted_cluster=True, center_lr=0.5), 3, feature_dim=model.feature_dim)
    groups = crit.parameter_groups(1e-3)
    assert len(groups) == 1 and groups[0]["lr"] == 0.5
    assert build_criterion(LossConfig(), 3).parameter_groups(1e-3) == []
    loss, parts = crit(train_outputs(model, torch.randn(4, 1, 48, 48)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert parts["wc"] > 0 and crit.cluster.centers.grad.abs().sum() > 0


def test_diversity_hand_computed_two_learners():
    # Two learners, one sample, D=1: squared difference 0.01 → K01 = exp(-10·0.01) = e^-0.1.
    a = torch.tensor([[[0.0]], [[0.1]]])
    s = math.exp(-0.1)
    k = similarity_matrix(a, gamma=10.0)
    assert k[0, 0].item() == pytest.approx(1.0) and k[0, 1].item() == pytest.approx(s, rel=1e-6)
    eps = 0.01
    assert diversity_loss(a, 10.0, eps).item() == pytest.approx(-math.log((1 + eps) ** 2 - s * s), rel=1e-5)


@pytest.mark.parametrize("m", [2, 3, 4, 9])
def test_diversity_rewards_dissimilar_learners_for_any_m(m):
    """The published hollow-matrix form rewarded similarity for odd m-1; the corrected one never does."""
    torch.manual_seed(m)
    base = torch.rand(1, 8, 36)
    alike = base + 0.01 * torch.randn(m, 8, 36)
    different = torch.rand(m, 8, 36)
    assert diversity_loss(alike).item() > diversity_loss(different).item()


def test_diversity_gradients_and_single_learner():
    a = torch.rand(3, 4, 10, requires_grad=True)
    diversity_loss(a).backward()
    assert a.grad.abs().sum() > 0
    one = torch.rand(1, 4, 10, requires_grad=True)
    assert diversity_loss(one).item() == 0.0


def test_diversity_in_criterion_for_esr_and_errors_for_plain_models():
    from fer_edge.trainers.models import create_model, train_outputs

    torch.manual_seed(0)
    model = create_model("esr", 3, 1, num_branches=2, cbam=True)
    crit = build_criterion(LossConfig(diversity=True), 3)
    loss, parts = crit(train_outputs(model, torch.randn(2, 1, 48, 48)), torch.tensor([0, 2]))
    loss.backward()
    assert {"div_branch_spatial", "div_branch_features", "div"} <= set(parts)
    cbam = model.branches[1].stages[-1].cbam
    assert cbam.spatial.weight.grad.abs().sum() > 0
    with pytest.raises(InvalidInputError, match="esr"):
        crit({"logits": torch.randn(2, 3)}, torch.tensor([0, 1]))
