"""Weighted-cluster loss (Ngo & Yoon 2020): pull features to learned class centres, push centres apart,
weighted per class.

Spec: ``research/methods.md`` §4 (formula as agreed by two third-party re-implementations; the paper body was
not retrievable).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from fer_edge.errors import InvalidInputError

__all__ = ["WeightedClusterLoss"]


class WeightedClusterLoss(nn.Module):
    """L_WC = (1/n) Σ_i ½ w_{y_i} ‖x_i − c_{y_i}‖² / (Σ_{j≠y_i} ‖c_{y_i} − c_j‖² + δ).

    The centres are an ``nn.Parameter`` (C, d) trained by the optimiser with their own learning rate.

    Args:
        num_classes: C.
        feature_dim: d, the size of the model's ``"features"`` (``model.feature_dim``).
        class_weights: per-class w_c (∝ 1/N_c); None = 1.
        delta: δ, keeps the ratio finite when centres coincide.
    """

    def __init__(self, num_classes: int, feature_dim: int, class_weights: Optional[Sequence[float]] = None,
                 delta: float = 1.0):
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, feature_dim) * 0.1)
        w = torch.ones(num_classes) if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer("weights", w, persistent=False)
        self.delta = float(delta)

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.centers.shape[1]:
            raise InvalidInputError(
                f"weighted-cluster loss expects features of shape (n, {self.centers.shape[1]}), got "
                f"{tuple(features.shape)}; build the criterion with feature_dim=model.feature_dim")
        y = targets.long()
        c = self.centers.float()
        pull = (features.float() - c[y]).pow(2).sum(dim=1)  # (n,)
        d2 = torch.cdist(c, c).pow(2)  # (C, C), zero diagonal
        push = d2.sum(dim=1)[y] + self.delta  # Σ_{j≠y} ‖c_y − c_j‖² + δ
        return (0.5 * self.weights[y] * pull / push).mean()
