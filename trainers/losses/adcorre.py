"""Ad-Corre correlation losses (Fard & Mahoor 2022) in torch ops, so they give gradients (the published code does not).

Spec: ``research/methods.md`` §1.3 and §1.9. V is the (k, n, d) stack of L2-normalised embeddings.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

__all__ = [
    "row_correlation",
    "feature_discriminator",
    "mean_discriminator",
    "embedding_discriminator",
    "ConfusionWindow",
]


def row_correlation(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation between the rows of ``x`` (..., m, d) over the last dimension → (..., m, m)."""
    xc = x - x.mean(dim=-1, keepdim=True)
    xn = xc / (xc.norm(dim=-1, keepdim=True) + eps)
    return xn @ xn.transpose(-1, -2)


def _zero(v: torch.Tensor) -> torch.Tensor:
    """A zero that stays connected to the graph (so ``backward`` works when a term has nothing to say)."""
    return v.sum() * 0.0


def feature_discriminator(v: torch.Tensor, targets: torch.Tensor, omega: Optional[torch.Tensor] = None) -> torch.Tensor:
    """L_FD = 1/(k n²) Σ_l Σ_{i≠j} Ω_ij |Φ_ij − ρ(V_l[i], V_l[j])|, Φ = +1 same class, −1 otherwise.

    Args:
        v: (k, n, d) embeddings.
        targets: (n,) labels.
        omega: optional (n, n) pair weights (detached); None = 1.
    """
    k, n, _ = v.shape
    corr = row_correlation(v.float())  # (k, n, n)
    same = targets.view(-1, 1) == targets.view(1, -1)
    phi = same.to(corr.dtype) * 2.0 - 1.0
    weight = 1.0 - torch.eye(n, dtype=corr.dtype, device=corr.device)
    if omega is not None:
        weight = weight * omega.to(corr)
    return (weight * (phi - corr).abs()).sum() / (k * n * n)


def mean_discriminator(v: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """L_MD = 1/(k C_p²) Σ_l Σ_{c≠c'} (1 + ρ(μ_{l,c}, μ_{l,c'})) over the C_p classes present in the batch.

    Absent classes are ignored (the published code gave them the batch mean). Zero when C_p < 2.
    """
    k, n, d = v.shape
    onehot = torch.nn.functional.one_hot(targets.long(), num_classes).to(v.dtype)  # (n, C)
    counts = onehot.sum(dim=0)
    present = counts > 0
    cp = int(present.sum())
    if cp < 2:
        return _zero(v)
    sums = torch.einsum("nc,knd->kcd", onehot, v)
    means = sums[:, present] / counts[present].view(1, -1, 1)  # (k, C_p, d)
    corr = row_correlation(means.float())
    off = 1.0 - torch.eye(cp, dtype=corr.dtype, device=corr.device)
    return (off * (1.0 + corr)).sum() / (k * cp * cp)


def embedding_discriminator(v: torch.Tensor) -> torch.Tensor:
    """L_ED = 1/(n k²) Σ_i Σ_{a≠b} (1 + ρ(V_a[i], V_b[i])): the k embeddings of one image should differ.

    Lower bound (k−2)/k, reached when the k centred embeddings of each image sum to zero.
    """
    k, n, _ = v.shape
    if k < 2:
        return _zero(v)
    corr = row_correlation(v.float().transpose(0, 1))  # (n, k, k)
    off = 1.0 - torch.eye(k, dtype=corr.dtype, device=corr.device)
    return (off * (1.0 + corr)).sum() / (n * k * k)


class ConfusionWindow(nn.Module):
    """Sliding window of the last ``size`` (label, prediction) pairs → per-class weights ω_c = 1 − recall_c.

    A class absent from the window has recall 0 (ω = 1). Nothing here is differentiable. The window is part of
    the state_dict, so a resumed run continues with the same Ω as the uninterrupted one.
    """

    def __init__(self, num_classes: int, size: int = 1000):
        super().__init__()
        self.num_classes = int(num_classes)
        self.size = int(size)
        self.register_buffer("labels", torch.full((self.size,), -1, dtype=torch.long))
        self.register_buffer("preds", torch.full((self.size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, targets: torch.Tensor, preds: torch.Tensor) -> None:
        """Append a batch (oldest entries are overwritten)."""
        targets = targets.detach().long().flatten()[-self.size:].to(self.labels.device)
        preds = preds.detach().long().flatten()[-self.size:].to(self.labels.device)
        m = targets.numel()
        idx = (self.ptr + torch.arange(m, device=self.labels.device)) % self.size
        self.labels[idx] = targets
        self.preds[idx] = preds
        self.ptr.copy_((self.ptr + m) % self.size)

    @torch.no_grad()
    def recall(self) -> torch.Tensor:
        """(C,) per-class recall over the window (the diagonal of the row-normalised confusion matrix)."""
        valid = self.labels >= 0
        y, p = self.labels[valid], self.preds[valid]
        c = self.num_classes
        n_c = torch.bincount(y, minlength=c).float()
        tp = torch.bincount(y[p == y], minlength=c).float()
        return torch.where(n_c > 0, tp / n_c.clamp_min(1), torch.zeros_like(n_c))

    @torch.no_grad()
    def class_weights(self) -> torch.Tensor:
        """(C,) ω_c = 1 − recall_c: large for classes the model gets wrong."""
        return 1.0 - self.recall()

    @torch.no_grad()
    def omega(self, targets: torch.Tensor) -> torch.Tensor:
        """(n, n) pair weights Ω_ij = 1 + ω_{y_i} + ω_{y_j}, zero on the diagonal (detached).

        The ``1 +`` keeps the plain FD alive for well-recognised classes (the published single-embedding form).
        """
        w = self.class_weights().to(targets.device)[targets.long()]
        om = 1.0 + w.view(-1, 1) + w.view(1, -1)
        om.fill_diagonal_(0.0)
        return om
