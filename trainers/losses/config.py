"""LossConfig: which loss terms a training run uses and their weights (one frozen dataclass)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Tuple

from fer_edge.errors import InvalidInputError

__all__ = ["LossConfig"]


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights. The total is ``CE + Σ λ_term · term`` over the enabled terms.

    Attributes:
        soft_targets: train on vote distributions (FER+) passed as ``soft``; hard labels otherwise.
        label_smoothing: ε of label smoothing applied to the (hard or soft) target distribution.
        class_weights: per-class weights for the cross-entropy and the weighted-cluster loss (see
            ``class_weights_from_counts``); ``None`` = all 1.
        adcorre: add the Ad-Corre terms (needs a model with ``"embeddings"``, i.e. ``adcorre_*``).
        lambda_fd: weight of the Feature Discriminator.
        lambda_md: weight of the Mean Discriminator.
        lambda_ed: weight of the Embedding Discriminator.
        adaptive_omega: weight FD pairs by Ω from the sliding-window confusion matrix; False = plain Ω = 1.
        omega_window: number of recent (label, prediction) pairs in the confusion window.
        weighted_cluster: add the weighted-cluster loss on ``"features"`` (learned class centres).
        lambda_wc: weight of the weighted-cluster loss.
        center_lr: learning rate of the class centres; ``None`` = the base learning rate.
        diversity: add the diversity loss on branch/patch features (``esr*``, ``manet``).
        lambda_div: weight of the diversity loss (applied to each of its spatial/channel/global terms).
        diversity_eps: ε in ``-log det(K + εI)``.
        diversity_gamma: RBF bandwidth γ of the similarity ``exp(-γ · mean squared difference)``.
        locality: add the deep locality-preserving loss on ``"features"`` (Li, Deng & Du 2017).
        lambda_lp: weight of the locality-preserving loss.
        lp_k: k, the number of nearest same-class neighbours each feature is pulled towards.
        derl: add the de-expression GAN terms of DeRL (needs the ``derl`` model's ``"generated"`` output).
        derl_neutral: index of the "neutral" label (0 in FER+ / AffectNet order).
        derl_judge: checkpoint of a frozen expression classifier that asks the generated faces to look neutral;
            "" = train a small one on the real images in the same run.
        lambda_adv, lambda_neutral, lambda_idt, lambda_rec: generator terms (adversarial, judged neutral,
            identity on neutral inputs, reconstruction of expressive inputs).
        lambda_judge: weight of the in-run judge's cross-entropy.
    """

    soft_targets: bool = False
    label_smoothing: float = 0.0
    class_weights: Optional[Tuple[float, ...]] = None
    adcorre: bool = False
    lambda_fd: float = 1.0
    lambda_md: float = 1.0
    lambda_ed: float = 1.0
    adaptive_omega: bool = True
    omega_window: int = 1000
    weighted_cluster: bool = False
    lambda_wc: float = 0.1
    center_lr: Optional[float] = None
    diversity: bool = False
    lambda_div: float = 1.0
    diversity_eps: float = 1e-2
    diversity_gamma: float = 10.0
    locality: bool = False
    lambda_lp: float = 0.01
    lp_k: int = 20
    derl: bool = False
    derl_neutral: int = 0
    derl_judge: str = ""
    lambda_adv: float = 1.0
    lambda_neutral: float = 1.0
    lambda_idt: float = 10.0
    lambda_rec: float = 1.0
    lambda_judge: float = 1.0

    def __post_init__(self):
        if self.class_weights is not None:
            object.__setattr__(self, "class_weights", tuple(float(w) for w in self.class_weights))
            if any(w < 0 for w in self.class_weights):
                raise InvalidInputError(f"LossConfig.class_weights must be >= 0, got {self.class_weights}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InvalidInputError(f"LossConfig.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        for f in fields(self):
            if f.name.startswith("lambda_") and getattr(self, f.name) < 0:
                raise InvalidInputError(f"LossConfig.{f.name} must be >= 0, got {getattr(self, f.name)}")
        if int(self.omega_window) < 1:
            raise InvalidInputError(f"LossConfig.omega_window must be >= 1, got {self.omega_window}")
        if self.center_lr is not None and self.center_lr <= 0:
            raise InvalidInputError(f"LossConfig.center_lr must be > 0 (or None = base lr), got {self.center_lr}")
        if int(self.lp_k) < 1:
            raise InvalidInputError(f"LossConfig.lp_k must be >= 1 neighbour, got {self.lp_k}")
        if self.diversity_eps <= 0 or self.diversity_gamma <= 0:
            raise InvalidInputError("LossConfig.diversity_eps and diversity_gamma must be > 0")
