"""Ranger (RAdam + Lookahead) against torch.optim.RAdam and hand-computed Lookahead steps; gradient centralisation;
TrainConfig wiring and resume of the Lookahead state."""

import math

import pytest

torch = pytest.importorskip("torch")
from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.optim import Ranger, centralize_gradients  # noqa: E402
from fer_edge.trainers.train import build_optimizer  # noqa: E402
from torch import nn  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch

_one_thread = one_thread_fixture()


def _grads(steps, shape=(3, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) for _ in range(steps)]


def _run(opt_factory, grads, init):
    p = nn.Parameter(init.clone())
    opt = opt_factory([p])
    trail = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        trail.append(p.detach().clone())
    return trail, opt


def test_without_lookahead_it_is_torch_radam():
    """k = 1, α = 1: the slow weights always equal the fast ones, so Ranger must be RAdam step for step
    (12 steps cover both regimes: momentum SGD while ρ_t <= 5, then the rectified adaptive step)."""
    init = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    grads = _grads(12)
    kw = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    ours, _ = _run(lambda ps: Ranger(ps, k=1, alpha=1.0, **kw), grads, init)
    ref, _ = _run(lambda ps: torch.optim.RAdam(ps, decoupled_weight_decay=True, **kw), grads, init)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6)


def test_first_steps_hand_computed():
    """β2 = 0.999: ρ_1 = 1 <= 5, so step 1 is p − lr · m̂ = p − lr · g (bias-corrected momentum)."""
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = Ranger([p], lr=0.1, betas=(0.9, 0.999), k=100)
    p.grad = torch.tensor([0.5, 1.0])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([1.0 - 0.05, -2.0 - 0.1]))
    # the rectified regime starts once ρ_t > 5 (t = 6 for β2 = 0.999)
    b2 = 0.999
    rho_inf = 2 / (1 - b2) - 1
    rho = [rho_inf - 2 * t * b2 ** t / (1 - b2 ** t) for t in range(1, 8)]
    assert [r > 5 for r in rho] == [False] * 5 + [True] * 2


def test_lookahead_slow_weights_every_k_steps_hand_computed():
    """k = 3, α = 0.5: after steps 3 and 6 the weights are slow + α (fast − slow), where fast is what RAdam alone
    reaches from the previous synchronisation point."""
    init = torch.randn(5, generator=torch.Generator().manual_seed(2))
    grads = _grads(6, shape=(5,), seed=3)
    kw = dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8)
    ours, opt = _run(lambda ps: Ranger(ps, k=3, alpha=0.5, **kw), grads, init)
    # reference: plain RAdam for the fast weights, Lookahead done by hand
    p = nn.Parameter(init.clone())
    radam = torch.optim.RAdam([p], **kw)
    slow = init.clone()
    expected = []
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        radam.step()
        if t % 3 == 0:
            slow = slow + 0.5 * (p.detach() - slow)
            with torch.no_grad():
                p.copy_(slow)
        expected.append(p.detach().clone())
    for t, (a, b) in enumerate(zip(ours, expected), start=1):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6, msg=f"step {t}")
    # between synchronisations the weights differ from the slow copy; at one they coincide
    state = opt.state[opt.param_groups[0]["params"][0]]
    torch.testing.assert_close(state["slow"], ours[-1])
    assert not torch.allclose(ours[3], ours[2])


def test_state_dict_round_trip_resumes_exactly():
    init = torch.randn(4, generator=torch.Generator().manual_seed(4))
    grads = _grads(10, shape=(4,), seed=5)
    full, _ = _run(lambda ps: Ranger(ps, lr=0.02, k=4), grads, init)
    part, opt = _run(lambda ps: Ranger(ps, lr=0.02, k=4), grads[:5], init)
    saved = opt.state_dict()
    p = nn.Parameter(part[-1].clone())
    opt2 = Ranger([p], lr=0.02, k=4)
    opt2.load_state_dict(saved)
    for g in grads[5:]:
        p.grad = g.clone()
        opt2.step()
    torch.testing.assert_close(p.detach(), full[-1])


def test_gradient_centralization_zero_mean_per_output_channel():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    net(torch.randn(4, 2, 6, 6)).pow(2).sum().backward()
    conv_g = net[0].weight.grad.clone()
    bias_g = net[0].bias.grad.clone()
    bn_g = net[1].weight.grad.clone()
    assert centralize_gradients(net) == 2  # the conv and the linear weight
    for w in (net[0].weight, net[3].weight):
        means = w.grad.mean(dim=tuple(range(1, w.grad.dim())))
        assert means.abs().max().item() < 1e-6
    torch.testing.assert_close(net[0].weight.grad, conv_g - conv_g.mean(dim=(1, 2, 3), keepdim=True))
    torch.testing.assert_close(net[0].bias.grad, bias_g)  # biases and norms untouched
    torch.testing.assert_close(net[1].weight.grad, bn_g)


def test_gradient_centralization_tiny_tensor_by_hand():
    lin = nn.Linear(2, 2, bias=False)
    lin.weight.grad = torch.tensor([[1.0, 3.0], [-2.0, 4.0]])
    centralize_gradients(lin)
    torch.testing.assert_close(lin.weight.grad, torch.tensor([[-1.0, 1.0], [-3.0, 3.0]]))


def test_train_config_wiring():
    cfg = TrainConfig(optimizer="ranger", lr=1e-3, lookahead_k=5, lookahead_alpha=0.8, grad_centralization=True)
    opt = build_optimizer([{"params": [nn.Parameter(torch.zeros(2))], "weight_decay": 0.0}], cfg)
    assert isinstance(opt, Ranger) and opt.param_groups[0]["k"] == 5 and opt.param_groups[0]["alpha"] == 0.8
    with pytest.raises(InvalidInputError, match="lookahead_alpha"):
        TrainConfig(lookahead_alpha=0.0)
    with pytest.raises(InvalidInputError, match="optimizer"):
        TrainConfig(optimizer="lamb")
    # the new keys at their defaults leave the hash of older configs unchanged
    assert "lookahead_k" not in str(TrainConfig().sha256()) and TrainConfig().sha256() == TrainConfig(
        lookahead_k=6).sha256()
    assert TrainConfig().sha256() != TrainConfig(grad_centralization=True).sha256()
    assert math.isfinite(opt.param_groups[0]["lr"])
