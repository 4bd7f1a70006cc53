"""Xception backbone (Chollet 2017), in-house: the Ad-Corre paper's trunk (Keras layout, 2048-d output)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .common import ConvBNAct, check_act, init_weights, make_act

__all__ = ["XceptionBackbone"]


class SeparableConv(nn.Sequential):
    """Depthwise 3×3 then pointwise 1×1 (no bias), then BN."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False),
                         nn.BatchNorm2d(cout))


class XBlock(nn.Module):
    """Xception block: [act → sepconv]×reps, optional 3×3/2 max-pool, plus a shortcut (1×1/2 conv or identity)."""

    def __init__(self, cin: int, widths, stride: int, act: str, first_act: bool = True):
        super().__init__()
        layers, c = [], cin
        for i, w in enumerate(widths):
            if i > 0 or first_act:
                a = make_act(act)
                if i == 0:
                    a.inplace = False  # the shortcut still reads the block input
                layers.append(a)
            layers.append(SeparableConv(c, w))
            c = w
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.body = nn.Sequential(*layers)
        self.shortcut = (ConvBNAct(cin, c, 1, stride, padding=0, act=None) if stride != 1 or cin != c
                         else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class XceptionBackbone(nn.Module):
    """Xception without top: (n, in_chans, H, W) → (n, 2048, ~H/32, ~W/32) (7×7 at 224, 2×2 at 48).

    Entry flow (valid 3×3 stem convs as in Keras), 8 middle-flow blocks of 728 channels, exit flow to 2048.
    """

    def __init__(self, in_chans: int = 3, act: Optional[str] = None, middle_blocks: int = 8):
        super().__init__()
        act = check_act(act) or "relu"
        self.stem = nn.Sequential(ConvBNAct(in_chans, 32, 3, 2, padding=0, act=act),
                                  ConvBNAct(32, 64, 3, 1, padding=0, act=act))
        blocks = [XBlock(64, (128, 128), 2, act, first_act=False), XBlock(128, (256, 256), 2, act),
                  XBlock(256, (728, 728), 2, act)]
        blocks += [XBlock(728, (728, 728, 728), 1, act) for _ in range(middle_blocks)]
        blocks.append(XBlock(728, (728, 1024), 2, act))
        self.blocks = nn.Sequential(*blocks)
        self.exit = nn.Sequential(SeparableConv(1024, 1536), make_act(act), SeparableConv(1536, 2048), make_act(act))
        self.feature_dim = 2048
        init_weights(self)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.exit(self.blocks(self.stem(x)))

    forward = forward_map
