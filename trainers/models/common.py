"""Building blocks shared by the in-house backbones: activations (incl. Mish), conv-BN-act, SE, CBAM, init."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from fer_edge.errors import InvalidInputError

__all__ = ["make_act", "ConvBNAct", "SqueezeExcite", "CBAM", "init_weights", "resize_map"]

_ACTS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "mish": lambda: nn.Mish(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
}


def make_act(name: str) -> nn.Module:
    """Activation module by name: relu, mish, hardswish, silu."""
    try:
        return _ACTS[name]()
    except KeyError:
        raise InvalidInputError(f"Unknown activation {name!r}; use one of {', '.join(_ACTS)}") from None


def check_act(act: Optional[str]) -> Optional[str]:
    """Validate the ``act`` override of a backbone (None keeps the architecture's own)."""
    if act is not None and act not in _ACTS:
        raise InvalidInputError(f"Unknown activation {act!r}; use one of {', '.join(_ACTS)}")
    return act


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) → BatchNorm2d → activation (None = no activation)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: Optional[int] = None,
                 groups: int = 1, act: Optional[str] = "relu", dilation: int = 1):
        if padding is None:
            padding = (kernel - 1) // 2 * dilation
        layers = [nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if act:
            layers.append(make_act(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel gating: GAP → 1×1 reduce → ReLU → 1×1 expand → gate (hard-sigmoid, MobileNetV3 style)."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel attention (shared MLP over avg+max pooled) then spatial
    attention (7×7 conv over channel-wise max and mean). ``forward_maps`` also returns the attention maps (for
    the diversity loss); nothing is cached on the module (so it stays deep-copyable for EMA).
    """

    def __init__(self, channels: int, reduction: int = 16, kernel: int = 7):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, channels, 1, bias=False))
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward_maps(self, x: torch.Tensor):
        """Returns (output, channel attention (n, C), spatial attention (n, H*W))."""
        ca = torch.sigmoid(self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1)))
        x = x * ca
        sa = torch.sigmoid(self.spatial(torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], 1)))
        return x * sa, ca.flatten(1), sa.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_maps(x)[0]


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal convs, unit BN, small-normal linears (training from scratch)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def resize_map(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bring a feature map to ``size``×``size``: identity, exact average pooling, or bilinear (ONNX-exportable)."""
    h, w = x.shape[-2:]
    if h == size and w == size:
        return x
    if h % size == 0 and w % size == 0:
        return F.avg_pool2d(x, (h // size, w // size))
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
