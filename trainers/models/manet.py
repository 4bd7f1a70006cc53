"""MA-Net (Zhao et al. TIP 2021) as used by the diversified-representation method: local patch branch + global branch.

Spec: ``research/methods.md`` §3.3. The multi-scale global block is my reading of "Res2Net-like, 4 splits, two
parallel cascades summed" (one cascade of 3×3 convs, one of dilated 3×3 convs).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from fer_edge.errors import InvalidInputError

from .common import ConvBNAct, check_act, init_weights, make_act
from .registry import register_model
from .resnet import BasicBlock, make_layer

__all__ = ["MANet"]


class MultiScaleBlock(nn.Module):
    """Res2Net-style block: 1×1 → 4 channel splits processed by two hierarchical cascades (3×3 and dilated 3×3)
    whose outputs are summed → 1×1; residual shortcut (projected when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int, act: str, scales: int = 4):
        super().__init__()
        width = cout // scales
        self.scales, self.width = scales, width
        self.reduce = ConvBNAct(cin, width * scales, 1, stride, padding=0, act=act)
        self.cascade_a = nn.ModuleList([ConvBNAct(width, width, 3, act=act) for _ in range(scales - 1)])
        self.cascade_b = nn.ModuleList([ConvBNAct(width, width, 3, dilation=2, act=act) for _ in range(scales - 1)])
        self.expand = ConvBNAct(width * scales, cout, 1, act=None)
        self.shortcut = (ConvBNAct(cin, cout, 1, stride, padding=0, act=None) if stride != 1 or cin != cout
                         else nn.Identity())
        self.act = make_act(act)

    def _cascade(self, splits, convs):
        out, prev = [splits[0]], None
        for s, conv in zip(splits[1:], convs):
            prev = conv(s if prev is None else s + prev)
            out.append(prev)
        return torch.cat(out, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        splits = torch.split(y, self.width, dim=1)
        y = self._cascade(splits, self.cascade_a) + self._cascade(splits, self.cascade_b)
        return self.act(self.expand(y) + self.shortcut(x))


class MANet(nn.Module):
    """ResNet-18 stem + layer1/2, then a local branch (4 patches, each with its own CBAM layer3/layer4) and a
    global multi-scale branch; ``forward`` = β·o_local + (1−β)·o_global.

    Args:
        num_classes: C.
        in_chans: 1 or 3.
        beta: weight of the local branch (0.6 as published) in the prediction and the loss.
        act: activation override (e.g. "mish").

    ``forward_train`` gives ``branch_logits`` [o_local, o_global] with ``branch_weights`` (β, 1−β),
    ``patch_spatial`` (4, n, h·w) and ``patch_features`` (4, n, 512) of the local patches, and
    ``branch_features`` (2, n, 512) (local vs global pooled features) for the diversity loss.
    """

    def __init__(self, num_classes: int, in_chans: int = 3, beta: float = 0.6, act: Optional[str] = None):
        super().__init__()
        if not 0.0 <= beta <= 1.0:
            raise InvalidInputError(f"MA-Net beta must be in [0, 1], got {beta}")
        act = check_act(act) or "relu"
        self.beta = float(beta)
        self.stem = nn.Sequential(ConvBNAct(in_chans, 64, 7, 2, act=act), nn.MaxPool2d(3, 2, 1),
                                  make_layer(64, 64, 2, 1, act), make_layer(64, 128, 2, 2, act))
        self.patches = nn.ModuleList([
            nn.Sequential(make_layer(128, 256, 2, 2, act, cbam=True), make_layer(256, 512, 2, 1, act, cbam=True))
            for _ in range(4)])
        self.global_branch = nn.Sequential(
            MultiScaleBlock(128, 256, 2, act), MultiScaleBlock(256, 256, 1, act),
            MultiScaleBlock(256, 512, 2, act), MultiScaleBlock(512, 512, 1, act))
        self.fc_local = nn.Linear(512, num_classes)
        self.fc_global = nn.Linear(512, num_classes)
        self.feature_dim = 512
        init_weights(self)
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.conv2[1].weight)

    def forward_train(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        s = self.stem(x)
        h, w = s.shape[-2:]
        if h < 2 or w < 2:
            raise InvalidInputError(f"MA-Net input too small ({tuple(x.shape[-2:])}); use at least 48×48")
        hh, hw = h // 2, w // 2
        crops = [s[..., :hh, :hw], s[..., :hh, hw:], s[..., hh:, :hw], s[..., hh:, hw:]]
        maps = [p(c) for p, c in zip(self.patches, crops)]
        pooled = torch.stack([m.mean(dim=(2, 3)) for m in maps])  # (4, n, 512)
        mh = min(m.shape[-2] for m in maps)
        mw = min(m.shape[-1] for m in maps)
        spatial = torch.stack([m[..., :mh, :mw].mean(dim=1).flatten(1) for m in maps])  # (4, n, mh·mw)
        local = pooled.mean(dim=0)  # = GAP of the re-tiled map when the patches are equal
        glob = self.global_branch(s).mean(dim=(2, 3))
        o_local, o_global = self.fc_local(local), self.fc_global(glob)
        return {
            "logits": self.beta * o_local + (1.0 - self.beta) * o_global,
            "branch_logits": [o_local, o_global],
            "branch_weights": (self.beta, 1.0 - self.beta),
            "features": local,
            "patch_features": pooled,
            "patch_spatial": spatial,
            "branch_features": torch.stack([local, glob]),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)["logits"]


@register_model("manet")
def manet(num_classes: int, in_chans: int = 3, **kw) -> MANet:
    """MA-Net with the local (4 CBAM patch branches) and multi-scale global branches."""
    return MANet(num_classes, in_chans, **kw)
