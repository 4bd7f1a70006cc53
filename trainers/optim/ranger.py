"""Ranger (Wright 2019): RAdam (Liu et al., ICLR 2020) inside Lookahead (Zhang et al., NeurIPS 2019).

RAdam: Adam whose adaptive step is switched on only when the variance of the adaptive learning rate is tractable
(ρ_t > 5), with the rectification factor r_t; before that it takes bias-corrected momentum steps. Lookahead: the
optimiser's weights ("fast") run k steps, then the "slow" copy moves a fraction α towards them and the fast
weights restart from it. Weight decay is decoupled (AdamW style). Everything (moments, slow weights, step) lives
in the optimiser state, so ``state_dict`` / ``load_state_dict`` resume a run exactly.
"""

from __future__ import annotations

import math
from typing import Iterable, Tuple

import torch
from torch.optim import Optimizer

from fer_edge.errors import InvalidInputError

__all__ = ["Ranger"]


class Ranger(Optimizer):
    """RAdam + Lookahead.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        betas: (β1, β2) of the moment estimates.
        eps: added to √v̂.
        weight_decay: decoupled weight decay (``p ← p · (1 − lr · wd)`` before the update).
        k: Lookahead synchronisation period (steps of the fast weights per slow update); 1 with α = 1 is RAdam.
        alpha: Lookahead step size α in (0, 1]: ``slow ← slow + α (fast − slow)``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: Tuple[float, float] = (0.95, 0.999),
                 eps: float = 1e-5, weight_decay: float = 0.0, k: int = 6, alpha: float = 0.5):
        if lr <= 0:
            raise InvalidInputError(f"Ranger lr must be > 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise InvalidInputError(f"Ranger betas must be in [0, 1), got {betas}")
        if int(k) < 1 or not 0.0 < float(alpha) <= 1.0:
            raise InvalidInputError(f"Lookahead needs k >= 1 and 0 < alpha <= 1, got k={k}, alpha={alpha}")
        if weight_decay < 0 or eps <= 0:
            raise InvalidInputError(f"Ranger needs weight_decay >= 0 and eps > 0, got {weight_decay}, {eps}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, k=int(k), alpha=float(alpha))
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd, k, alpha = group["lr"], group["eps"], group["weight_decay"], group["k"], group["alpha"]
            rho_inf = 2.0 / (1.0 - beta2) - 1.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise InvalidInputError("Ranger does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["slow"] = p.detach().clone(memory_format=torch.preserve_format)
                state["step"] += 1
                t = int(state["step"].item())
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if wd:
                    p.mul_(1.0 - lr * wd)
                m.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                bias1 = 1.0 - beta1 ** t
                bias2 = 1.0 - beta2 ** t
                rho_t = rho_inf - 2.0 * t * beta2 ** t / bias2
                if rho_t > 5.0:
                    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                    denom = v.sqrt().add_(eps).div_(math.sqrt(bias2))  # torch.optim.RAdam places eps here
                    p.addcdiv_(m, denom, value=-lr * rect / bias1)
                else:  # variance of the adaptive rate not yet tractable: momentum SGD step
                    p.add_(m, alpha=-lr / bias1)
                if t % k == 0:  # Lookahead: slow weights step towards the fast ones, fast restart there
                    slow = state["slow"]
                    slow.add_(p - slow, alpha=alpha)
                    p.copy_(slow)
        return loss
