"""Cross-entropy variants the seed methods use: hard labels, label smoothing, FER+ vote distributions, class weights."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from fer_edge.errors import InvalidInputError

__all__ = ["classification_loss", "class_weights_from_counts"]


def class_weights_from_counts(counts) -> tuple:
    """Class weights ∝ 1/N_c, scaled so they average 1 over the classes (weighted-cluster / weighted softmax).

    Args:
        counts: number of training images per class.

    Raises:
        InvalidInputError: a class has no images (its weight would be infinite).
    """
    counts = [int(c) for c in counts]
    empty = [i for i, c in enumerate(counts) if c <= 0]
    if empty:
        raise InvalidInputError(f"classes {empty} have no training images; remove them from the label set")
    inv = [1.0 / c for c in counts]
    scale = len(inv) / sum(inv)
    return tuple(w * scale for w in inv)


def classification_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    soft: Optional[torch.Tensor] = None,
    label_smoothing: float = 0.0,
    class_weights: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Mean cross-entropy ``-(1/n) Σ_i w_{y_i} Σ_c q_ic log softmax(z_i)_c``.

    Args:
        logits: (n, C) raw scores.
        targets: (n,) class indices (used for the class weight of each sample, and as the target when ``soft``
            is None).
        soft: optional (n, C) target distributions (FER+ votes); rows are renormalised to sum to 1.
        label_smoothing: ε; the target becomes ``(1 - ε) q + ε / C``.
        class_weights: optional (C,) per-class weights, applied per sample by its label (not renormalised).
    """
    n, num_classes = logits.shape
    if targets.shape != (n,):
        raise InvalidInputError(f"targets must have shape ({n},), got {tuple(targets.shape)}")
    logp = F.log_softmax(logits.float(), dim=1)
    if soft is None:
        q = F.one_hot(targets.long(), num_classes).to(logp.dtype)
    else:
        if soft.shape != logits.shape:
            raise InvalidInputError(f"soft targets must have shape {tuple(logits.shape)}, got {tuple(soft.shape)}")
        q = soft.to(logp.dtype).clamp_min(0)
        q = q / q.sum(dim=1, keepdim=True).clamp_min(1e-12)
    if label_smoothing:
        q = q * (1.0 - label_smoothing) + label_smoothing / num_classes
    per_sample = -(q * logp).sum(dim=1)
    if class_weights is not None:
        per_sample = per_sample * class_weights.to(per_sample)[targets.long()]
    return per_sample.mean()
