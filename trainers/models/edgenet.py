"""EdgeNet: the compact CNN family for 48–64 px face crops, sized for ≤ 0.5 ms per crop on one CPU thread.

Design: plain 3×3 conv-BN-ReLU stages (fast in ONNX Runtime FP32 and INT8, where depthwise convolutions are not),
optional residual blocks, global average pooling, dropout, linear classifier. BatchNorm folds into the convs on
export, so the deployed graph is a short chain of Conv(+ReLU) nodes.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch
from torch import nn

from .abp import AccuracyBoosterPlus
from .common import check_act, make_act
from .registry import register_model

Stage = Tuple[int, int]  # (channels, number of 3x3 convs); every stage after the first halves the resolution


def _conv_bn(cin: int, cout: int, stride: int = 1, act: str = "relu") -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), make_act(act)
    )


class _ResidualPair(nn.Module):
    """Two 3×3 convs with an identity shortcut (channels unchanged, stride 1)."""

    def __init__(self, channels: int, act: str = "relu"):
        super().__init__()
        self.conv1 = _conv_bn(channels, channels, act=act)
        self.conv2 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.conv1(x)))


class EdgeNet(nn.Module):
    """Stem conv, then stages of 3×3 convs; each later stage starts by halving the resolution.

    Args:
        num_classes: output width.
        in_chans: 1 (gray) or 3.
        stem: (channels, stride) of the first conv; stride 2 halves the input at almost no cost.
        stages: ``(channels, convs)`` per stage. The first stage runs at the stem's resolution; later stages
            downsample first (2×2 max-pool, or a stride-2 conv when ``downsample="conv"``).
        residual: convs after a stage's first one are grouped into residual pairs (when ``convs`` is odd).
        downsample: "pool" (max-pool) or "conv" (the stage's first conv has stride 2).
        dropout: dropout before the classifier.
        act: activation ("relu"; "mish" for the Accuracy Booster Plus recipe).
        abp: an Accuracy Booster Plus block (depthwise-conv recalibration) at the end of every stage.
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        stem: Tuple[int, int] = (16, 1),
        stages: Sequence[Stage] = ((16, 0), (32, 1), (64, 1)),
        residual: bool = False,
        downsample: str = "pool",
        dropout: float = 0.1,
        act: str = "relu",
        abp: bool = False,
    ):
        super().__init__()
        if downsample not in ("pool", "conv"):
            raise ValueError(f"downsample must be 'pool' or 'conv', got {downsample!r}")
        act = check_act(act) or "relu"
        stem_c, stem_s = int(stem[0]), int(stem[1])
        layers = [_conv_bn(in_chans, stem_c, stride=stem_s, act=act)]
        c = stem_c
        for i, (width, convs) in enumerate(stages):
            width, convs = int(width), int(convs)
            first = True
            if i > 0:
                if downsample == "pool":
                    layers.append(nn.MaxPool2d(2))
                else:
                    layers.append(_conv_bn(c, width, stride=2, act=act))
                    c, convs, first = width, convs - 1, False
            if convs > 0:
                if first and c != width:
                    layers.append(_conv_bn(c, width, act=act))
                    c, convs = width, convs - 1
                if residual:
                    while convs >= 2:
                        layers.append(_ResidualPair(c, act))
                        convs -= 2
                for _ in range(convs):
                    layers.append(_conv_bn(c, width, act=act))
                    c = width
            if abp:
                layers.append(AccuracyBoosterPlus(c))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = c
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        # Zero-init the last BN of each residual pair so blocks start as identities.
        for m in self.modules():
            if isinstance(m, _ResidualPair):
                nn.init.zeros_(m.conv2[1].weight)

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(n, C, h, w) feature map before pooling (for attention heads such as ARM)."""
        if self.training and x.device.type == "cpu" and not torch.jit.is_tracing():
            # oneDNN trains these small convs ~25 % faster in NHWC; eval/export keep the plain NCHW graph.
            x = x.contiguous(memory_format=torch.channels_last)
        return self.features(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(n, feature_dim) globally pooled features."""
        return torch.flatten(self.pool(self.forward_feature_map(x)), 1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(features))

    def forward_train(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Logits and pooled features in one pass (for feature-space losses)."""
        f = self.forward_features(x)
        return {"logits": self.forward_head(f), "features": f}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _factory(name: str, **defaults):
    @register_model(name)
    def make(num_classes: int, in_chans: int = 1, **kw) -> EdgeNet:
        return EdgeNet(num_classes, in_chans, **{**defaults, **kw})

    make.__name__ = name
    make.__doc__ = f"EdgeNet variant {name!r}: {defaults}"
    return make


# Tiny: tests and smoke runs only (~25 k params).
edgenet_tiny = _factory("edgenet_tiny", stem=(16, 1), stages=((16, 0), (32, 1), (64, 1)), dropout=0.1)

# Shipped-model candidates (48 px gray; MACs at 48x48). Stride-2 stem: the 1-channel 48² input carries little
# work per pixel, so the first conv goes straight to 24² and the capacity sits at 12², 6² and 3².
# edgenet_s: ~0.58 M params, ~23 MMACs.  edgenet_m: ~1.17 M params, ~29 MMACs.  edgenet_l: ~1.30 M, ~50 MMACs.
edgenet_s = _factory("edgenet_s", stem=(24, 2), stages=((32, 1), (64, 2), (128, 2), (256, 1)), dropout=0.2)
edgenet_m = _factory("edgenet_m", stem=(32, 2), stages=((32, 1), (64, 2), (128, 2), (256, 2)), dropout=0.3)
edgenet_l = _factory("edgenet_l", stem=(32, 2), stages=((48, 1), (96, 2), (192, 2), (384, 1)), dropout=0.3)
# edgenet_sw: edgenet_s widened at 12² and 6² (80 / 160 channels) under the 1 M-parameter limit: ~0.82 M, ~33 MMACs.
edgenet_sw = _factory("edgenet_sw", stem=(24, 2), stages=((32, 1), (80, 2), (160, 2), (256, 1)), dropout=0.2)
