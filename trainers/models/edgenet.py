"""Compact edge CNN for 48–64 px grayscale faces (placeholder; replaced by the shipped-model work)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model


class EdgeNet(nn.Module):
    """Small VGG-style CNN: conv-BN-ReLU stages, global average pooling, linear classifier."""

    def __init__(self, num_classes: int, in_chans: int = 1, widths=(16, 32, 64), dropout: float = 0.1):
        super().__init__()
        layers, c = [], in_chans
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


@register_model("edgenet_tiny")
def edgenet_tiny(num_classes: int, in_chans: int = 1, **kw) -> EdgeNet:
    return EdgeNet(num_classes, in_chans, **kw)
