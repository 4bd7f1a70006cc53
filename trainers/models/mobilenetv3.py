"""MobileNetV3-Small/Large backbones (Howard et al. 2019), in-house: the edge baselines with depthwise convs."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .common import ConvBNAct, SqueezeExcite, check_act, init_weights

__all__ = ["MobileNetV3Backbone", "SMALL", "LARGE"]

# (kernel, expansion channels, out channels, squeeze-excite, activation RE/HS, stride)
SMALL = (
    (3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1),
)
LARGE = (
    (3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2), (3, 200, 80, False, "HS", 1), (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1), (3, 480, 112, True, "HS", 1), (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2), (5, 960, 160, True, "HS", 1), (5, 960, 160, True, "HS", 1),
)


def _divisible(v: float, d: int = 8) -> int:
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


class InvertedResidual(nn.Module):
    """1×1 expand → k×k depthwise → (SE) → 1×1 project; residual when shapes match."""

    def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, act: str, stride: int):
        super().__init__()
        layers = []
        if exp != cin:
            layers.append(ConvBNAct(cin, exp, 1, act=act))
        layers.append(ConvBNAct(exp, exp, k, stride, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcite(exp, _divisible(exp // 4)))
        layers.append(ConvBNAct(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3Backbone(nn.Module):
    """MobileNetV3 up to the last 1×1 conv: (n, in_chans, H, W) → (n, 576 | 960, H/32, W/32).

    Args:
        config: ``SMALL`` or ``LARGE``.
        in_chans: 1 or 3.
        act: None keeps ReLU/hard-swish as published; "mish" (or another name) replaces both.
        head_hidden: width of the published classifier's hidden layer (1024 small, 1280 large), used by the
            linear head.
    """

    def __init__(self, config=SMALL, in_chans: int = 3, act: Optional[str] = None, head_hidden: int = 1024):
        super().__init__()
        act = check_act(act)
        pick = {"RE": act or "relu", "HS": act or "hardswish"}
        layers = [ConvBNAct(in_chans, 16, 3, 2, act=pick["HS"])]
        c = 16
        for k, exp, out, se, a, s in config:
            layers.append(InvertedResidual(c, k, exp, out, se, pick[a], s))
            c = out
        last = 6 * c
        layers.append(ConvBNAct(c, last, 1, act=pick["HS"]))
        self.features = nn.Sequential(*layers)
        self.feature_dim = last
        self.head_hidden = head_hidden
        self.head_act = pick["HS"]
        init_weights(self)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    forward = forward_map
