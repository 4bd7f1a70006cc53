"""Accuracy Booster Plus block: re-weight a feature map with gates computed by a depthwise convolution.

Squeeze-and-Excitation gates each channel from its global average; Singh et al.'s Accuracy Booster (WACV 2020)
replaces that global pooling with a depthwise convolution, so each channel gets a gate per position (spatial and
channel recalibration at depthwise cost). "Plus", as in Rahadika et al. (2021, ResNet-50 + Mish + ABP for FER),
mixes channels with a full 1×1 convolution before the gate. Gate = σ(BN(1×1(depthwise_k(x)))) ∈ (0, 1), output
x ⊙ gate. ``pool=True`` gives the form of Rahadika et al.'s released code instead (global average pooling, then
the 1×1 convolution: one gate per channel, like SE without the bottleneck). Exports to ONNX as Conv/BN/Sigmoid/Mul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fer_edge.errors import InvalidInputError

__all__ = ["AccuracyBoosterPlus"]


class AccuracyBoosterPlus(nn.Module):
    """x ⊙ σ(BN(mix(depthwise(x)))).

    Args:
        channels: channels of the feature map (unchanged).
        kernel: depthwise kernel size (odd); ignored when ``pool``.
        mix: the "plus": a full 1×1 convolution across channels after the depthwise one (False = Accuracy Booster).
        pool: global-average-pool before the 1×1 convolution (the released code's form) instead of the depthwise
            convolution.
    """

    def __init__(self, channels: int, kernel: int = 3, mix: bool = True, pool: bool = False):
        super().__init__()
        if channels < 1 or kernel < 1 or kernel % 2 == 0:
            raise InvalidInputError(f"Accuracy Booster Plus needs channels >= 1 and an odd kernel, got "
                                    f"{channels}, {kernel}")
        self.pool = bool(pool)
        self.depthwise = None if pool else nn.Conv2d(channels, channels, kernel, padding=kernel // 2,
                                                     groups=channels, bias=False)
        self.mix = nn.Conv2d(channels, channels, 1, bias=False) if (mix or pool) else None
        self.bn = nn.BatchNorm2d(channels)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The recalibration weights in (0, 1): (n, C, H, W), or (n, C, 1, 1) with ``pool``."""
        w = F.adaptive_avg_pool2d(x, 1) if self.pool else self.depthwise(x)
        if self.mix is not None:
            w = self.mix(w)
        return torch.sigmoid(self.bn(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)
