"""Training inputs built from the ModelCard: every image goes through ``fer_edge.preprocess`` once, then batched
torch augmentation (flip, affine, brightness/contrast, random erasing) runs on whole batches.

Precomputing with the runtime's own preprocessing means training sees exactly the tensors the runtime feeds;
augmenting whole batches with ``affine_grid``/``grid_sample`` keeps a 2-core machine busy with the model,
not with per-sample image code.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from fer_edge.card import ModelCard
from fer_edge.datasets import Split

from .arrays import arrays_from_split
from .config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class TensorSplit:
    """A split ready for training: (N, C, H, W) float32 inputs in the card's normalisation, and targets."""

    x: torch.Tensor
    labels: torch.Tensor  # (N,) int64, -1 = no hard label
    soft: Optional[torch.Tensor]  # (N, K) float32 or None
    leak: Optional[torch.Tensor]  # (N,) bool or None
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def materialize(split: Split, card: ModelCard, *, where: str = "", progress: bool = False) -> TensorSplit:
    """``arrays.arrays_from_split`` as torch tensors (the exact runtime preprocessing of every image)."""
    a = arrays_from_split(split, card, where=where, progress=progress)
    return TensorSplit(torch.from_numpy(a.x), torch.from_numpy(a.labels),
                       None if a.soft is None else torch.from_numpy(a.soft),
                       None if a.leak is None else torch.from_numpy(a.leak), skipped=a.skipped)


@dataclass(frozen=True)
class AugmentConfig:
    """Batched augmentation amplitudes (see TrainConfig for the meaning of each; its defaults are used here)."""

    hflip: float = TrainConfig.hflip
    rotate: float = TrainConfig.rotate
    scale: float = TrainConfig.scale
    translate: float = TrainConfig.translate
    brightness: float = TrainConfig.brightness
    contrast: float = TrainConfig.contrast
    gamma_jitter: float = TrainConfig.gamma_jitter
    blur: float = TrainConfig.blur
    blur_sigma: float = TrainConfig.blur_sigma
    erasing: float = TrainConfig.erasing
    erasing_area: tuple = TrainConfig.erasing_area

    @classmethod
    def from_train_config(cls, cfg) -> "AugmentConfig":
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


class BatchAugment:
    """Augments a normalised (B, C, H, W) batch in torch; randomness comes only from the given generator.

    Geometry uses ``grid_sample`` with border padding (the replicated border ``fer_edge.preprocess`` uses);
    photometric jitter is applied on the 0..1 pixel scale recovered from the card's mean/std.
    """

    def __init__(self, aug: AugmentConfig, card: ModelCard):
        self.aug = aug
        self.mean = torch.tensor(card.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(card.std, dtype=torch.float32).view(1, -1, 1, 1)

    @property
    def identity(self) -> bool:
        a = self.aug
        return not any((a.hflip, a.rotate, a.scale, a.translate, a.brightness, a.contrast, a.gamma_jitter, a.blur,
                        a.erasing))

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        a = self.aug
        b, _, h, w = x.shape
        if self.mean.device != x.device:
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)

        def rand(*shape):
            return torch.rand(*shape, generator=gen, device=x.device)

        if a.hflip > 0:
            flip = (rand(b) < a.hflip).view(b, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        if a.rotate > 0 or a.scale > 0 or a.translate > 0:
            ang = (rand(b) * 2 - 1) * math.radians(a.rotate)
            s = 1.0 + (rand(b) * 2 - 1) * a.scale
            tx = (rand(b) * 2 - 1) * a.translate * 2  # normalised coords span 2
            ty = (rand(b) * 2 - 1) * a.translate * 2
            cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
            theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=False)
        if a.brightness > 0 or a.contrast > 0 or a.gamma_jitter > 0:
            p = x * self.std + self.mean
            if a.gamma_jitter > 0:  # lighting: p ** exp(u), u ~ U(-g, g); darker or brighter mid-tones, same ends
                p = p.clamp(0.0, 1.0) ** torch.exp((rand(b, 1, 1, 1) * 2 - 1) * a.gamma_jitter)
            if a.contrast > 0:
                c = 1.0 + (rand(b, 1, 1, 1) * 2 - 1) * a.contrast
                m = p.mean(dim=(1, 2, 3), keepdim=True)
                p = (p - m) * c + m
            if a.brightness > 0:
                p = p + (rand(b, 1, 1, 1) * 2 - 1) * a.brightness
            x = (p.clamp(0.0, 1.0) - self.mean) / self.std
        if a.blur > 0:
            x = self._blur(x, rand)
        if a.erasing > 0:
            lo, hi = a.erasing_area
            area = (lo + rand(b) * (hi - lo)) * h * w
            log_r = (rand(b) * 2 - 1) * math.log(3.3)
            ratio = torch.exp(log_r)
            eh = torch.sqrt(area * ratio).clamp(1, h).floor()
            ew = torch.sqrt(area / ratio).clamp(1, w).floor()
            y0 = (rand(b) * (h - eh + 1)).floor()
            x0 = (rand(b) * (w - ew + 1)).floor()
            ys = torch.arange(h, dtype=torch.float32, device=x.device).view(1, h, 1)
            xs = torch.arange(w, dtype=torch.float32, device=x.device).view(1, 1, w)
            inside = ((ys >= y0.view(b, 1, 1)) & (ys < (y0 + eh).view(b, 1, 1))
                      & (xs >= x0.view(b, 1, 1)) & (xs < (x0 + ew).view(b, 1, 1)))
            on = (rand(b) < a.erasing).view(b, 1, 1)
            mask = (inside & on).unsqueeze(1)
            noise = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
            x = torch.where(mask, noise, x)
        return x.contiguous()

    def _blur(self, x: torch.Tensor, rand) -> torch.Tensor:
        """Gaussian blur of a random share ``blur`` of the images, sigma ~ U(0.2, blur_sigma) pixels (focus, motion,
        low-resolution cameras); separable, one kernel per image, reflected borders."""
        b, c, h, w = x.shape
        radius = max(1, math.ceil(3 * self.aug.blur_sigma))
        sigma = 0.2 + rand(b) * (self.aug.blur_sigma - 0.2)
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        k = torch.exp(-0.5 * (t.view(1, -1) / sigma.view(-1, 1).to(x.dtype)) ** 2)
        k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (b*c, 2r+1)
        y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
        y = F.conv2d(y, k.view(b * c, 1, 1, -1), groups=b * c)
        y = F.conv2d(y, k.view(b * c, 1, -1, 1), groups=b * c).view(b, c, h, w)
        on = (rand(b) < self.aug.blur).view(b, 1, 1, 1)
        return torch.where(on, y, x)
