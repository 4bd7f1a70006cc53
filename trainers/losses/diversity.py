"""Diversity loss (Heidari & Iosifidis 2022) in the corrected DPP form: −log det(K + εI) with a unit diagonal.

The published code left K's diagonal at 0, which for an odd number of learners rewards similarity
(``research/methods.md`` §3.1). Here K_ij = mean_b exp(−γ · mean_t (A_i[b,t] − A_j[b,t])²), K_ii = 1; det(K) is
largest when the learners' features differ. The squared distance is averaged (not summed) over the feature
dimension so that γ means the same for 36-d spatial maps and 512-d channel vectors (with a sum, K ≈ I for
wide features and the gradient vanishes).
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

from fer_edge.errors import InvalidInputError

__all__ = ["similarity_matrix", "diversity_loss"]


def _stack(sets: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
    a = sets if isinstance(sets, torch.Tensor) else torch.stack([s.flatten(1) for s in sets])
    if a.dim() > 3:
        a = a.flatten(2)
    if a.dim() != 3:
        raise InvalidInputError(f"diversity loss expects (m, n, D) feature sets, got shape {tuple(a.shape)}")
    return a.float()


def similarity_matrix(sets, gamma: float = 10.0) -> torch.Tensor:
    """(m, m) RBF similarity of m learners' features (m, n, D), averaged over the batch; unit diagonal."""
    a = _stack(sets)
    m, _, dim = a.shape
    diff = a.unsqueeze(0) - a.unsqueeze(1)  # (m, m, n, D)
    sq = diff.pow(2).mean(dim=-1)  # (m, m, n)
    k = torch.exp(-gamma * sq).mean(dim=-1)
    return k  # diagonal is exp(0) = 1 by construction


def diversity_loss(sets, gamma: float = 10.0, eps: float = 1e-2) -> torch.Tensor:
    """−log det(K + εI) for the learners' features ``sets`` (m, n, D) or a list of m (n, ...) tensors.

    Minimum m·(−log(1 + ε)) when all learners are dissimilar (K = I); grows as they become alike.
    Zero (connected to the graph) for a single learner.
    """
    a = _stack(sets)
    m = a.shape[0]
    if m < 2:
        return a.sum() * 0.0
    k = similarity_matrix(a, gamma)
    eye = torch.eye(m, dtype=k.dtype, device=k.device)
    return -torch.logdet(k + eps * eye)
