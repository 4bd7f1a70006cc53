"""Deep locality-preserving loss (Li, Deng & Du, CVPR 2017): pull each feature towards the mean of its k nearest
same-class neighbours in the batch, so a class may keep several local clusters (unlike a single centre).

L_lp = (1/n) Σ_i ½ ‖x_i − (1/k_i) Σ_{x ∈ N_k(x_i)} x‖², N_k(x_i) = the k nearest (Euclidean) other samples of
x_i's class in the batch. As in the paper's gradient, the neighbour mean is a constant for x_i (∂L/∂x_i = x_i − m_i
per sample); each sample is still pulled by its own term. A class with fewer than k + 1 samples in the batch uses
all its other samples (k_i = n_c − 1); a sample alone in its class has no neighbour and contributes 0 (the sum is
still divided by the full batch size n, so the weight of the term does not depend on the batch's composition).

Under DDP the neighbours are searched in the whole global batch (features gathered from every process, in rank
order); since they carry no gradient this makes N processes compute exactly the single-process loss.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.distributed as dist

from fer_edge.errors import InvalidInputError

from ..distributed import gather_cat

__all__ = ["locality_preserving_loss", "neighbour_means", "gather_batch"]


def neighbour_means(x: torch.Tensor, targets: torch.Tensor, k: int, ref: Optional[torch.Tensor] = None,
                    ref_targets: Optional[torch.Tensor] = None, offset: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean of each row's k nearest same-class rows of ``ref`` (itself excluded), and how many were used.

    Args:
        x: (n, d) features.
        targets: (n,) labels.
        k: neighbours per sample (>= 1).
        ref, ref_targets: (N, d) / (N,) the rows to search (default: ``x`` / ``targets``); row ``offset + i`` of
            ``ref`` is ``x[i]`` itself and is skipped.
        offset: where ``x`` starts inside ``ref``.

    Returns:
        (n, d) neighbour means (detached; zero where there is no neighbour) and (n,) neighbour counts.
    """
    x = x.detach().float()
    ref = x if ref is None else ref.detach().float()
    ref_targets = targets if ref_targets is None else ref_targets
    n, big_n = x.shape[0], ref.shape[0]
    d2 = torch.cdist(x, ref).pow(2)  # (n, N)
    allowed = targets.view(-1, 1) == ref_targets.view(1, -1)
    rows = torch.arange(n, device=x.device)
    allowed[rows, rows + offset] = False  # never one's own neighbour
    d2 = d2.masked_fill(~allowed, float("inf"))
    kk = min(int(k), max(big_n - 1, 1))
    dist_k, idx = d2.topk(kk, dim=1, largest=False)  # (n, kk), ascending
    valid = torch.isfinite(dist_k)
    counts = valid.sum(dim=1)
    picked = ref[idx] * valid.unsqueeze(-1).to(ref.dtype)  # (n, kk, d)
    means = picked.sum(dim=1) / counts.clamp_min(1).unsqueeze(-1).to(ref.dtype)
    return means, counts


def gather_batch(x: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """(global features, global labels, this process's row offset): the whole DDP batch in rank order (no grad).

    Outside DDP: ``(x.detach(), targets, 0)``.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x.detach(), targets, 0
    d = x.shape[1]
    sizes = gather_cat(torch.tensor([x.shape[0]], device=x.device))
    offset = int(sizes[: dist.get_rank()].sum())
    feats = gather_cat(x.detach().float().flatten()).view(-1, d)
    labels = gather_cat(targets.long())
    return feats, labels, offset


def locality_preserving_loss(features: torch.Tensor, targets: torch.Tensor, k: int = 20,
                             global_batch: bool = True) -> torch.Tensor:
    """L_lp over a batch (see the module docstring).

    Args:
        features: (n, d) the deep features the classifier reads (``outputs["features"]``).
        targets: (n,) hard labels.
        k: neighbours per sample; classes with fewer than k + 1 samples use all the others.
        global_batch: under DDP, search neighbours in the whole global batch (training); False = this process's
            rows only (an eval-mode call then waits on no collective).
    """
    if features.dim() != 2:
        raise InvalidInputError(f"the locality-preserving loss expects (n, d) features, got {tuple(features.shape)}")
    if targets.shape != features.shape[:1]:
        raise InvalidInputError(f"targets must have shape ({features.shape[0]},), got {tuple(targets.shape)}")
    if int(k) < 1:
        raise InvalidInputError(f"the locality-preserving loss needs k >= 1 neighbours, got {k}")
    x = features.float()
    if global_batch:
        ref, ref_y, offset = gather_batch(x, targets)
    else:
        ref, ref_y, offset = x.detach(), targets, 0
    means, counts = neighbour_means(x, targets, k, ref, ref_y, offset)
    per_sample = 0.5 * (x - means).pow(2).sum(dim=1) * (counts > 0).to(x.dtype)
    return per_sample.sum() / x.shape[0]
