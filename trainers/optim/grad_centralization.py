"""Gradient centralisation (Yong et al., ECCV 2020): zero-mean weight gradients per output channel.

For each conv / linear weight W (out, in, *kernel) the gradient becomes ∇W − mean(∇W over every axis but the
output channel). The step then stays in the hyperplane of zero-mean filters, which regularises the weights and
smooths the loss landscape; it works with any optimiser (SGD, AdamW, Ranger), so it is applied to the gradients
before the optimiser step rather than inside one optimiser. Biases, norms and other 1-d parameters are untouched;
transposed convolutions (whose weight puts the output channel second) are left out.
"""

from __future__ import annotations

from typing import Iterable, Union

import torch
from torch import nn

__all__ = ["centralize_gradients", "centralize_"]

_CENTRALISED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@torch.no_grad()
def centralize_(grad: torch.Tensor) -> torch.Tensor:
    """Subtract, in place, the mean over all axes but the first (the output channel) from ``grad``."""
    if grad.dim() > 1:
        grad.sub_(grad.mean(dim=tuple(range(1, grad.dim())), keepdim=True))
    return grad


def centralize_gradients(modules: Union[nn.Module, Iterable[nn.Module]]) -> int:
    """Centralise the gradient of every conv/linear weight inside ``modules``; returns how many were changed.

    Call after ``backward()`` (and after DDP has averaged the gradients) and before clipping and the optimiser
    step. Gradients scaled by AMP's GradScaler may be centralised as they are (the operation is linear).
    """
    if isinstance(modules, nn.Module):
        modules = [modules]
    seen = set()
    for root in modules:
        for m in root.modules():
            w = getattr(m, "weight", None)
            if isinstance(m, _CENTRALISED) and w is not None and w.grad is not None and id(w) not in seen:
                seen.add(id(w))
                centralize_(w.grad)
    return len(seen)
