"""ResNet-18 backbone (He et al. 2016), in-house: the ARM paper's trunk and a mid-size baseline (optionally with
Accuracy Booster Plus blocks, ``abp=True``)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .abp import AccuracyBoosterPlus
from .common import CBAM, ConvBNAct, check_act, init_weights, make_act

__all__ = ["BasicBlock", "ResNet18Backbone", "make_layer"]


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN with an identity (or 1×1 projection) shortcut; optional CBAM or ABP before the sum."""

    def __init__(self, cin: int, cout: int, stride: int = 1, act: str = "relu", cbam: bool = False,
                 abp: bool = False):
        super().__init__()
        self.conv1 = ConvBNAct(cin, cout, 3, stride, act=act)
        self.conv2 = ConvBNAct(cout, cout, 3, 1, act=None)
        self.cbam = CBAM(cout) if cbam else None
        self.abp = AccuracyBoosterPlus(cout) if abp else None
        self.shortcut = (ConvBNAct(cin, cout, 1, stride, padding=0, act=None)
                         if stride != 1 or cin != cout else nn.Identity())
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        if self.cbam is not None:
            y = self.cbam(y)
        if self.abp is not None:
            y = self.abp(y)
        return self.act(y + self.shortcut(x))


def make_layer(cin: int, cout: int, blocks: int, stride: int, act: str = "relu", cbam: bool = False,
               abp: bool = False) -> nn.Sequential:
    layers = [BasicBlock(cin, cout, stride, act, cbam, abp)]
    layers += [BasicBlock(cout, cout, 1, act, cbam, abp) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet18Backbone(nn.Module):
    """ResNet-18 trunk without pooling/classifier: (n, in_chans, H, W) → (n, 512, H/32, W/32).

    Args:
        in_chans: 1 or 3.
        act: activation ("relu" as published, or "mish").
        abp: an Accuracy Booster Plus block in every residual block.
    """

    def __init__(self, in_chans: int = 3, act: Optional[str] = None, abp: bool = False):
        super().__init__()
        act = check_act(act) or "relu"
        self.stem = nn.Sequential(ConvBNAct(in_chans, 64, 7, 2, act=act), nn.MaxPool2d(3, 2, 1))
        self.layer1 = make_layer(64, 64, 2, 1, act, abp=abp)
        self.layer2 = make_layer(64, 128, 2, 2, act, abp=abp)
        self.layer3 = make_layer(128, 256, 2, 2, act, abp=abp)
        self.layer4 = make_layer(256, 512, 2, 2, act, abp=abp)
        self.feature_dim = 512
        init_weights(self)
        for m in self.modules():  # zero-init the last BN of each block: blocks start as identities
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.conv2[1].weight)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    forward = forward_map
