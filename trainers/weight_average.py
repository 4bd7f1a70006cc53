"""Averages of a model's weights over training: the exponential moving average (EMA, every step) and stochastic
weight averaging (SWA): the plain mean of the weights at the end of each epoch from ``swa_start`` on.

Why: EMA weighs the last few hundred steps; a constant (or high, late) learning rate keeps the weights moving
around a wide optimum, and the mean of the points it visits generalises better than any one of them (Izmailov et
al., 2018). The mean of BatchNorm statistics is not the statistics of the mean weights, so they are measured
again on training images (``recompute_batchnorm``) before the averaged model is evaluated or saved.
"""

from __future__ import annotations

import copy
from typing import Dict, Optional

import torch
from torch import nn

from .checkpoint import cpu_state_dict

_NORMS = (nn.modules.batchnorm._BatchNorm,)


def _frozen_copy(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` that no optimizer can touch (it holds the average, not a trained model)."""
    copy_ = copy.deepcopy(model).eval()
    for p in copy_.parameters():
        p.requires_grad_(False)
    return copy_


class ModelEMA:
    """Exponential moving average of weights (buffers copied), decay warmed up over the first steps."""

    def __init__(self, model: nn.Module, decay: float):
        self.module = _frozen_copy(model)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        msd = model.state_dict()
        for k, v in self.module.state_dict().items():
            src = msd[k].detach()
            if v.dtype.is_floating_point:
                v.mul_(d).add_(src, alpha=1 - d)
            else:
                v.copy_(src)


class WeightAverage:
    """Running mean of a model's floating-point weights; ``count`` models averaged so far."""

    def __init__(self, model: nn.Module):
        self.module = _frozen_copy(model)
        self.count = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the mean (the first call copies them)."""
        self.count += 1
        source = model.state_dict()
        for key, mine in self.module.state_dict().items():
            value = source[key].detach()
            if mine.dtype.is_floating_point and self.count > 1:
                mine.add_(value.to(mine.dtype) - mine, alpha=1.0 / self.count)
            else:
                mine.copy_(value)

    def state(self) -> Dict[str, object]:
        return {"state_dict": cpu_state_dict(self.module), "count": self.count}

    def load_state(self, state: Optional[Dict[str, object]]) -> None:
        if state:
            self.module.load_state_dict(state["state_dict"])
            self.count = int(state["count"])


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int, device,
                        memory_format=torch.contiguous_format) -> int:
    """Set every BatchNorm's running mean/variance to their cumulative average over ``x`` (the images as the
    network sees them, not augmented); returns how many BatchNorm layers were measured. Leaves ``model`` in eval.
    """
    norms = [m for m in model.modules() if isinstance(m, _NORMS) and m.track_running_stats]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts equally
    model.train()
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(device=device, dtype=torch.float32)
            model(xb.contiguous(memory_format=memory_format))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()
    return len(norms)
