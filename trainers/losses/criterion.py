"""Criterion: one nn.Module that turns a model's training outputs and labels into the total loss and its parts."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from fer_edge.errors import InvalidInputError

from ..distributed import gather_cat
from .adcorre import ConfusionWindow, embedding_discriminator, feature_discriminator, mean_discriminator
from .ce import classification_loss
from .config import LossConfig
from .derl_gan import DeExpressionGANLoss
from .diversity import diversity_loss
from .locality import locality_preserving_loss
from .weighted_cluster import WeightedClusterLoss

__all__ = ["Criterion", "build_criterion"]

# Which outputs the diversity loss reads (each present one adds a term, reported as "div_<key>").
_DIVERSITY_KEYS = ("patch_spatial", "patch_features", "branch_spatial", "branch_features")


def _providers(prefixes: Tuple[str, ...]) -> str:
    """Registered model names that start with one of ``prefixes`` (for error messages)."""
    try:
        from ..models import list_models

        names = [n for n in list_models() if n.startswith(prefixes)]
    except Exception:  # registry unavailable: still give a useful hint
        names = []
    return ", ".join(names) if names else "/".join(p + "*" for p in prefixes)


class Criterion(nn.Module):
    """Total training loss ``CE + Σ λ · term`` for the terms enabled in a ``LossConfig``.

    ``forward(outputs, targets, soft=None) -> (loss, parts)`` where ``outputs`` is the dict from
    ``trainers.models.outputs.train_outputs`` and ``parts`` maps term names to floats (``"total"`` included).
    """

    def __init__(self, cfg: LossConfig, num_classes: int, feature_dim: Optional[int] = None, in_chans: int = 1):
        super().__init__()
        self.cfg = cfg
        self.num_classes = int(num_classes)
        if cfg.class_weights is not None:
            if len(cfg.class_weights) != self.num_classes:
                raise InvalidInputError(
                    f"LossConfig.class_weights has {len(cfg.class_weights)} entries but the model has "
                    f"{self.num_classes} classes; give one weight per class (or None)")
            self.register_buffer("class_weights", torch.tensor(cfg.class_weights, dtype=torch.float32),
                                 persistent=False)
        else:
            self.class_weights = None
        adaptive = cfg.adcorre and cfg.adaptive_omega
        self.window = ConfusionWindow(self.num_classes, cfg.omega_window) if adaptive else None
        self.cluster = None
        if cfg.weighted_cluster:
            if not feature_dim:
                raise InvalidInputError(
                    "weighted_cluster=True needs the size of the model's features: "
                    "build_criterion(cfg, num_classes, feature_dim=model.feature_dim)")
            self.cluster = WeightedClusterLoss(self.num_classes, int(feature_dim), cfg.class_weights)
        self.gan = None
        if cfg.derl:
            judge = _load_judge(cfg.derl_judge, self.num_classes, in_chans) if cfg.derl_judge else None
            self.gan = DeExpressionGANLoss(
                self.num_classes, in_chans, cfg.derl_neutral, lambda_adv=cfg.lambda_adv,
                lambda_neutral=cfg.lambda_neutral, lambda_idt=cfg.lambda_idt, lambda_rec=cfg.lambda_rec,
                lambda_judge=cfg.lambda_judge, judge=judge)

    def parameter_groups(self, base_lr: float) -> List[Dict]:
        """Optimiser parameter groups of the loss's own parameters (weighted-cluster centres, the DeRL
        discriminator and in-run judge); [] if none."""
        groups = []
        if self.cluster is not None:
            lr = self.cfg.center_lr if self.cfg.center_lr is not None else base_lr
            groups.append({"params": [self.cluster.centers], "lr": lr, "weight_decay": 0.0, "name": "cluster_centers"})
        if self.gan is not None:
            groups.append({"params": [p for p in self.gan.parameters() if p.requires_grad], "lr": base_lr,
                           "weight_decay": 0.0, "name": "derl_gan"})
        return groups

    def _need(self, outputs: Dict, key: str, term: str, prefixes: Tuple[str, ...]):
        if key not in outputs:
            raise InvalidInputError(
                f"{term} needs the model output {key!r}, which this model does not produce; use one of: "
                f"{_providers(prefixes)} (or disable {term} in the loss config)")
        return outputs[key]

    def forward(self, outputs: Dict, targets: torch.Tensor,
                soft: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Dict[str, float]]:
        cfg = self.cfg
        if not isinstance(outputs, dict) or "logits" not in outputs:
            raise InvalidInputError("outputs must be the dict from train_outputs(model, x) with a 'logits' key")
        logits = outputs["logits"]
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise InvalidInputError(
                f"model outputs {tuple(logits.shape)} logits but the loss was built for {self.num_classes} "
                "classes; the model's num_classes must equal the number of labels")
        if cfg.soft_targets and soft is None:
            raise InvalidInputError("LossConfig.soft_targets=True but the batch has no vote distributions; "
                                    "use a dataset with soft labels (FER+ votes) or set soft_targets=False")
        q = soft if cfg.soft_targets else None
        parts: Dict[str, float] = {}

        def ce(z):
            return classification_loss(z, targets, q, cfg.label_smoothing, self.class_weights)

        branches = outputs.get("branch_logits")
        if branches:
            weights = outputs.get("branch_weights") or (1.0,) * len(branches)
            total = sum(w * ce(z) for w, z in zip(weights, branches))
        else:
            total = ce(logits)
        parts["ce"] = float(total.detach())

        if cfg.adcorre:
            v = self._need(outputs, "embeddings", "the Ad-Corre loss (adcorre=True)", ("adcorre_",))
            omega = None
            if self.window is not None:
                if self.training:  # eval-mode calls (e.g. a validation loss on one rank) leave Ω's window alone
                    # Ω comes from the whole global batch under DDP, so every process weighs pairs alike
                    self.window.update(gather_cat(targets), gather_cat(logits.detach().argmax(dim=1)))
                omega = self.window.omega(targets)
            fd = feature_discriminator(v, targets, omega)
            md = mean_discriminator(v, targets, self.num_classes)
            ed = embedding_discriminator(v)
            total = total + cfg.lambda_fd * fd + cfg.lambda_md * md + cfg.lambda_ed * ed
            parts.update(fd=float(fd.detach()), md=float(md.detach()), ed=float(ed.detach()))

        if self.cluster is not None:
            feats = self._need(outputs, "features", "the weighted-cluster loss (weighted_cluster=True)", ("",))
            wc = self.cluster(feats, targets)
            total = total + cfg.lambda_wc * wc
            parts["wc"] = float(wc.detach())

        if cfg.diversity:
            found = [k for k in _DIVERSITY_KEYS if k in outputs]
            if not found:
                self._need(outputs, "branch_features", "the diversity loss (diversity=True)",
                           ("esr", "manet", "ensemble"))
            div_total = None
            for key in found:
                term = diversity_loss(outputs[key], cfg.diversity_gamma, cfg.diversity_eps)
                parts["div_" + key] = float(term.detach())
                div_total = term if div_total is None else div_total + term
            total = total + cfg.lambda_div * div_total
            parts["div"] = float(div_total.detach())

        if self.gan is not None:
            gen = self._need(outputs, "generated", "the DeRL de-expression loss (derl=True)", ("derl",))
            gan, gan_parts = self.gan(gen, self._need(outputs, "derl_input", "the DeRL de-expression loss",
                                                      ("derl",)), targets, q)
            total = total + gan
            parts.update(gan_parts)
            parts["gan"] = float(gan.detach())

        if cfg.locality:
            feats = self._need(outputs, "features", "the locality-preserving loss (locality=True)", ("",))
            # neighbours from the whole DDP batch in training; an eval-mode call stays on this process
            lp = locality_preserving_loss(feats, targets, cfg.lp_k, global_batch=self.training)
            total = total + cfg.lambda_lp * lp
            parts["lp"] = float(lp.detach())

        parts["total"] = float(total.detach())
        return total, parts


def _load_judge(path: str, num_classes: int, in_chans: int) -> nn.Module:
    """A trained classifier checkpoint as DeRL's frozen judge, checked against the run's classes and channels."""
    from ..checkpoint import model_from_checkpoint

    model, card = model_from_checkpoint(path)
    if card.num_classes != num_classes or card.channels != in_chans:
        raise InvalidInputError(
            f"LossConfig.derl_judge: {path} classifies {card.num_classes} classes from {card.channels}-channel "
            f"images but this run has {num_classes} classes and {in_chans} channel(s); train the judge on the "
            "same data and colour")
    return model


def build_criterion(cfg: LossConfig, num_classes: int, feature_dim: Optional[int] = None,
                    in_chans: int = 1) -> Criterion:
    """Build the training loss for ``cfg``.

    Args:
        cfg: which terms and weights.
        num_classes: C, the model's output width.
        feature_dim: size of the model's ``"features"`` output (``model.feature_dim``); required only when
            ``cfg.weighted_cluster`` is on.
        in_chans: image channels (the DeRL discriminator and judge read images).

    Raises:
        InvalidInputError: inconsistent config (class_weights length, missing feature_dim).
    """
    if int(num_classes) < 2:
        raise InvalidInputError(f"num_classes must be >= 2, got {num_classes}")
    return Criterion(cfg, num_classes, feature_dim, in_chans)
