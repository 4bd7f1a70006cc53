"""ResNet-50 backbone (He et al. 2016, v1.5: stride on the 3×3), in-house, optionally with Accuracy Booster Plus
blocks and Mish (Rahadika, Yudistira & Sari 2021: ResNet-50 + Mish + ABP, trained with Ranger + GC)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .abp import AccuracyBoosterPlus
from .common import ConvBNAct, check_act, init_weights, make_act

__all__ = ["Bottleneck", "ResNet50Backbone"]


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (stride) → 1×1 expand ×4, each conv-BN; ABP on the residual branch before the sum."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, act: str = "relu", abp: bool = False):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = ConvBNAct(cin, width, 1, padding=0, act=act)
        self.conv2 = ConvBNAct(width, width, 3, stride, act=act)
        self.conv3 = ConvBNAct(width, cout, 1, padding=0, act=None)
        self.abp = AccuracyBoosterPlus(cout) if abp else None
        self.shortcut = (ConvBNAct(cin, cout, 1, stride, padding=0, act=None)
                         if stride != 1 or cin != cout else nn.Identity())
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv2(self.conv1(x)))
        if self.abp is not None:
            y = self.abp(y)
        return self.act(y + self.shortcut(x))


class ResNet50Backbone(nn.Module):
    """ResNet-50 trunk without pooling/classifier: (n, in_chans, H, W) → (n, 2048, H/32, W/32).

    Args:
        in_chans: 1 or 3.
        act: activation ("relu" as published; "mish" for the ABP recipe).
        abp: an Accuracy Booster Plus block in every bottleneck.
        depths: blocks per stage ((3, 4, 6, 3) = ResNet-50; smaller tuples for tests).
    """

    def __init__(self, in_chans: int = 3, act: Optional[str] = None, abp: bool = False, depths=(3, 4, 6, 3)):
        super().__init__()
        act = check_act(act) or "relu"
        self.stem = nn.Sequential(ConvBNAct(in_chans, 64, 7, 2, act=act), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for i, (width, blocks) in enumerate(zip((64, 128, 256, 512), depths)):
            layer = []
            for b in range(int(blocks)):
                layer.append(Bottleneck(cin, width, 2 if (b == 0 and i > 0) else 1, act, abp))
                cin = width * Bottleneck.expansion
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.feature_dim = cin
        init_weights(self)
        for m in self.modules():  # zero-init the last BN of each block: blocks start as identities
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.conv3[1].weight)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    forward = forward_map
