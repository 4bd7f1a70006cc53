"""MixUp and CutMix: blend pairs of training images and their target distributions.

Both act on the augmented, normalised batch and on its soft targets (the loss then reads the blended
distribution), so they need ``targets: soft``. One Beta(alpha, alpha) draw per batch decides the share; CutMix pastes
one box of that area share from the partner image and mixes the targets by the area actually pasted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch


@dataclass(frozen=True)
class MixConfig:
    """Beta alphas (0 = off) and the share of batches that are mixed; with both on, each mixed batch picks one."""

    mixup: float = 0.0
    cutmix: float = 0.0
    prob: float = 1.0

    @classmethod
    def from_train_config(cls, cfg) -> "MixConfig":
        return cls(mixup=cfg.mixup, cutmix=cfg.cutmix, prob=cfg.mix_prob)

    @property
    def enabled(self) -> bool:
        return self.prob > 0 and (self.mixup > 0 or self.cutmix > 0)


def mix_batch(x: torch.Tensor, soft: torch.Tensor, cfg: MixConfig,
              gen: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """Return (images, targets, lam): lam is the share of each image's own target (1.0 = batch left unmixed)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
    rng = np.random.default_rng(seed)  # the few per-batch draws, on the host whatever the device
    if not cfg.enabled or rng.random() >= cfg.prob:
        return x, soft, 1.0
    use_cutmix = cfg.cutmix > 0 and (cfg.mixup <= 0 or rng.random() < 0.5)
    lam = float(rng.beta(*(2 * [cfg.cutmix if use_cutmix else cfg.mixup])))
    perm = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    if use_cutmix:
        h, w = x.shape[-2:]
        cut = math.sqrt(1.0 - lam)
        ch, cw = round(h * cut), round(w * cut)
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        x = x.clone()
        x[..., y0:y0 + ch, x0:x0 + cw] = x[perm][..., y0:y0 + ch, x0:x0 + cw]
        lam = 1.0 - (ch * cw) / (h * w)
    else:
        x = lam * x + (1.0 - lam) * x[perm]
    return x, lam * soft + (1.0 - lam) * soft[perm], lam
