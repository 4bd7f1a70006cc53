"""Classifier heads (linear, Ad-Corre, ARM) and ``attach_head``: put any of them on any backbone, the edge CNN included.

A backbone here is any module with ``forward_map(x) -> (n, C, h, w)`` (or EdgeNet's ``forward_feature_map`` /
``features``) and ``feature_dim``; ``attach_head`` adapts EdgeNet-style classifiers automatically.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from fer_edge.errors import InvalidInputError

from .common import make_act, resize_map

__all__ = ["LinearHead", "AdCorreHead", "ARMHead", "HeadedModel", "attach_head", "HEADS"]

HEADS = ("linear", "adcorre", "arm")


class LinearHead(nn.Module):
    """GAP features → [Linear → act → dropout] (optional hidden layer, MobileNetV3 style) → dropout → Linear."""

    needs_map = False

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.2, hidden: Optional[int] = None,
                 act: str = "hardswish"):
        super().__init__()
        layers = []
        if hidden:
            layers += [nn.Linear(dim, hidden), make_act(act)]
            dim = hidden
        layers += [nn.Dropout(dropout), nn.Linear(dim, num_classes)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, feats: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"logits": self.mlp(feats), "features": feats}


class AdCorreHead(nn.Module):
    """Ad-Corre head: k independent Linear(dim, d) embeddings → row-wise L2 norm → concat → dropout → Linear.

    The k heads are stored as one Linear(dim, k·d) (rows are independent, so this is the same as k layers).
    Outputs ``embeddings`` of shape (k, n, d).
    """

    needs_map = False

    def __init__(self, dim: int, num_classes: int, k: Optional[int] = None, embed_dim: int = 256,
                 dropout: float = 0.5):
        super().__init__()
        self.k = int(k) if k else int(num_classes)
        if self.k < 1 or embed_dim < 2:
            raise InvalidInputError(f"Ad-Corre head needs k >= 1 and embed_dim >= 2, got k={k}, embed_dim={embed_dim}")
        self.embed_dim = int(embed_dim)
        self.embed = nn.Linear(dim, self.k * self.embed_dim)
        nn.init.xavier_uniform_(self.embed.weight)  # Keras Glorot default, as in the published model
        nn.init.zeros_(self.embed.bias)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.k * self.embed_dim, num_classes)

    def embeddings(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, dim) → (n, k, d) L2-normalised embeddings."""
        z = self.embed(feats).view(feats.shape[0], self.k, self.embed_dim)
        return F.normalize(z, dim=-1, eps=1e-6)

    def forward(self, feats: torch.Tensor) -> Dict[str, torch.Tensor]:
        v = self.embeddings(feats)
        logits = self.fc(self.dropout(v.flatten(1)))
        return {"logits": logits, "features": feats, "embeddings": v.transpose(0, 1)}


def _shuffle_factor(channels: int) -> int:
    """Largest even r ≤ 16 with r² dividing ``channels`` (0 if none)."""
    for r in range(16, 1, -2):
        if channels % (r * r) == 0:
            return r
    return 0


class ARMHead(nn.Module):
    """Amend Representation Module (Shi et al. 2021) replacing global pooling, with the train/eval fix.

    feature map → (resize to grid×grid) → PixelShuffle(r) → one shared 2r×2r/stride r/2 "de-albino" kernel per
    channel → BN → F = mean over channels (unique) + α · generic → Linear. ``generic`` is the batch mean in
    training and an EMA of it (like BN running stats) in eval, so a prediction does not depend on the other
    images in the batch. For 512 channels and grid 7 this is the published geometry (r = 16, 32×32 kernel,
    stride 8, 11×11 map).

    Args:
        channels: backbone channels; a 1×1 projection to 512 is added when no even r ≤ 16 has r² | channels.
        num_classes: C.
        grid: spatial size the backbone map is brought to (7 = ResNet-18 at 224).
        dropout: dropout before the classifier (0 as published).
        momentum: EMA momentum of the generic component.
    """

    needs_map = True

    def __init__(self, channels: int, num_classes: int, grid: int = 7, dropout: float = 0.0, momentum: float = 0.1):
        super().__init__()
        if grid < 2:
            raise InvalidInputError(f"ARM head grid must be >= 2, got {grid}")
        r = _shuffle_factor(channels)
        self.proj = None
        if r == 0:
            self.proj = nn.Sequential(nn.Conv2d(channels, 512, 1, bias=False), nn.BatchNorm2d(512))
            channels, r = 512, 16
        self.grid, self.r, self.groups = int(grid), r, channels // (r * r)
        self.shuffle = nn.PixelShuffle(r)
        self.dealbino = nn.Conv2d(1, 1, 2 * r, stride=r // 2, bias=False)
        self.bn = nn.BatchNorm2d(self.groups)
        self.alpha = nn.Parameter(torch.ones(()))
        self.out = 2 * self.grid - 3
        self.momentum = float(momentum)
        self.register_buffer("generic_ema", torch.zeros(self.out, self.out))
        self.register_buffer("ema_ready", torch.zeros((), dtype=torch.bool))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.out * self.out, num_classes)
        self.feature_dim = self.out * self.out

    def forward(self, fmap: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.proj is not None:
            fmap = self.proj(fmap)
        x = self.shuffle(resize_map(fmap, self.grid))  # (n, g, grid·r, grid·r)
        side = x.shape[-1]
        x = self.dealbino(x.reshape(-1, 1, side, side))
        x = self.bn(x.reshape(-1, self.groups, self.out, self.out))
        unique = x.mean(dim=1)  # (n, out, out)
        if self.training:
            generic = x.mean(dim=(0, 1))
            with torch.no_grad():
                g = generic.detach()
                if bool(self.ema_ready):
                    self.generic_ema.lerp_(g, self.momentum)
                else:
                    self.generic_ema.copy_(g)
                    self.ema_ready.fill_(True)
        else:
            generic = self.generic_ema
        feats = (unique + self.alpha * generic).flatten(1)
        return {"logits": self.fc(self.dropout(feats)), "features": feats}


class HeadedModel(nn.Module):
    """Backbone + head with the training protocol (see ``outputs.py``).

    ``forward(x)`` → logits (what ONNX export sees); ``forward_train(x)`` → dict with ``logits``, ``features``
    and, for the Ad-Corre head, ``embeddings`` (k, n, d); ``forward_embeddings(x)`` → (k, n, d).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.feature_dim = getattr(head, "feature_dim", backbone.feature_dim)

    def _head_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.head.needs_map:
            return self.backbone.forward_map(x)
        if hasattr(self.backbone, "forward_features"):
            return self.backbone.forward_features(x)
        return torch.flatten(F.adaptive_avg_pool2d(self.backbone.forward_map(x), 1), 1)

    def forward_train(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.head(self._head_input(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)["logits"]

    def forward_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        """(k, n, d) L2-normalised embeddings (Ad-Corre head only)."""
        if not isinstance(self.head, AdCorreHead):
            raise InvalidInputError("forward_embeddings needs the Ad-Corre head (adcorre_* models); this model has "
                                    f"{type(self.head).__name__}")
        return self.head.embeddings(self._head_input(x)).transpose(0, 1)


class _ClassifierBackbone(nn.Module):
    """Adapts a full classifier such as EdgeNet (``features``/``forward_feature_map``/``forward_features``,
    ``feature_dim``) into a backbone; its own classifier and dropout are removed so no parameter goes unused
    (DDP requires that)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        if not (hasattr(net, "forward_feature_map") or hasattr(net, "features")):
            raise InvalidInputError(f"{type(net).__name__} has no feature map (forward_feature_map or features); "
                                    "it cannot take a head")
        dim = getattr(net, "feature_dim", None)
        if dim is None and isinstance(getattr(net, "classifier", None), nn.Linear):
            dim = net.classifier.in_features
        for name in ("classifier", "dropout", "head", "fc"):
            if isinstance(getattr(net, name, None), (nn.Linear, nn.Dropout, nn.Sequential)):
                setattr(net, name, nn.Identity())
        self.net = net
        if dim is None:
            raise InvalidInputError(f"{type(net).__name__} does not expose feature_dim; it cannot take a head")
        self.feature_dim = int(dim)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self.net, "forward_feature_map"):
            return self.net.forward_feature_map(x)
        return self.net.features(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self.net, "forward_features"):
            return self.net.forward_features(x)
        return torch.flatten(F.adaptive_avg_pool2d(self.forward_map(x), 1), 1)


def attach_head(backbone: nn.Module, num_classes: int, head: str = "linear", **head_kw) -> HeadedModel:
    """Put a ``head`` ("linear", "adcorre", "arm") on a backbone or on a classifier such as EdgeNet.

    Args:
        backbone: module with ``forward_map`` and ``feature_dim``, or an EdgeNet-like classifier.
        num_classes: C.
        head: which head.
        **head_kw: head options (adcorre: k, embed_dim, dropout; arm: grid, dropout, momentum; linear: dropout,
            hidden, act).
    """
    if head not in HEADS:
        raise InvalidInputError(f"Unknown head {head!r}; use one of {', '.join(HEADS)}")
    if not hasattr(backbone, "forward_map"):
        backbone = _ClassifierBackbone(backbone)
    dim = backbone.feature_dim
    cls = {"linear": LinearHead, "adcorre": AdCorreHead, "arm": ARMHead}[head]
    try:
        h = cls(dim, num_classes, **head_kw)
    except TypeError as exc:
        raise InvalidInputError(f"bad option for the {head} head: {exc}") from None
    return HeadedModel(backbone, h)
