"""The de-expression GAN objective of DeRL (Yang et al. 2018), trained WITHOUT neutral/expressive pairs.

The paper trains its conditional GAN on pairs (an expressive face and the same person's neutral face, from
posed-expression databases) with an adversarial loss plus an L1 distance to that neutral target. FER+ (and
RAF-DB, AffectNet) have one image per person, so that target does not exist. What we use instead, each term
standing in for a part of what the pair gave:

* **conditional adversarial loss** (pix2pix-style PatchGAN on (input, output) pairs): "real" pairs are the
  batch's neutral faces paired with themselves — a neutral face is its own neutral version — and "fake" pairs are
  (input, generated). The discriminator thus learns what a neutral face of *this* input looks like, with no
  second photo of the person.
* **neutral term**: an expression classifier (the "judge") must read the generated face as neutral
  (cross-entropy towards the neutral class). The judge is frozen for this term: either a checkpoint you give
  (``derl_judge``), fully frozen, or a small CNN trained in the same run on the real labelled images only (its
  weights never move to please the generator).
* **identity term**: for neutral inputs the target *is* known (the input), so ``L1(G(x_n), x_n)`` — the paper's
  L1 term where it can be had; plus a weaker **reconstruction term** ``L1(G(x), x)`` on expressive inputs that
  keeps the person (pose, identity, lighting) while the other terms remove the expression.

One optimiser step updates everything at once: the discriminator's loss sees the generated images detached, and
the generator's adversarial and neutral terms go through the discriminator and the judge with their parameters
detached (``torch.func.functional_call``), so each network gets exactly its own gradient (simultaneous, not
alternating, GAN updates — a deviation from pix2pix that fits the single-optimiser training loop). The
discriminator and the in-run judge are parameters of this loss, trained by the run's optimiser and saved in the
checkpoint's ``criterion`` state (resume restores them), like the weighted-cluster centres.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fer_edge.errors import InvalidInputError

from .ce import classification_loss

__all__ = ["PatchDiscriminator", "ExpressionJudge", "DeExpressionGANLoss"]


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (input, candidate neutral face) → a map of real/fake logits (one per patch).

    No batch normalisation, so its training-mode output for one image does not depend on the others (the real
    and fake batches are scored separately).
    """

    def __init__(self, in_chans: int = 1, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * in_chans, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.GroupNorm(8, 2 * width), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 1, 3, 1, 1),
        )

    def forward(self, condition: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, candidate], dim=1))


class ExpressionJudge(nn.Module):
    """Small expression classifier (GroupNorm, so scoring generated faces leaves no running statistics behind)."""

    def __init__(self, num_classes: int, in_chans: int = 1, width: int = 32):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.GroupNorm(8, cout), nn.LeakyReLU(0.2, inplace=True)]

        self.net = nn.Sequential(*block(in_chans, width), *block(width, 2 * width), *block(2 * width, 4 * width),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _frozen_call(module: nn.Module, *args) -> torch.Tensor:
    """``module(*args)`` with its parameters detached: gradients reach the inputs, never the module."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return functional_call(module, params, args)


class DeExpressionGANLoss(nn.Module):
    """All de-expression terms for one batch (see the module docstring).

    Args:
        num_classes: C.
        in_chans: image channels.
        neutral_index: the label index of "neutral" (0 in FER+ and AffectNet order).
        lambda_adv, lambda_neutral, lambda_idt, lambda_rec: weights of the generator's terms.
        lambda_judge: weight of the in-run judge's cross-entropy on real images.
        judge: a frozen expression classifier (e.g. ``model_from_checkpoint(...)[0]``); None = train one here.
        width: width of the discriminator and of the in-run judge.
    """

    def __init__(self, num_classes: int, in_chans: int = 1, neutral_index: int = 0, lambda_adv: float = 1.0,
                 lambda_neutral: float = 1.0, lambda_idt: float = 10.0, lambda_rec: float = 1.0,
                 lambda_judge: float = 1.0, judge: Optional[nn.Module] = None, width: int = 32):
        super().__init__()
        if not 0 <= int(neutral_index) < int(num_classes):
            raise InvalidInputError(f"derl_neutral={neutral_index} is not a class index (0..{num_classes - 1}); set "
                                    "it to the position of 'neutral' in the dataset's labels")
        self.num_classes, self.neutral = int(num_classes), int(neutral_index)
        self.weights = dict(adv=lambda_adv, neutral=lambda_neutral, idt=lambda_idt, rec=lambda_rec,
                            judge=lambda_judge)
        self.discriminator = PatchDiscriminator(in_chans, width)
        self.frozen_judge = judge is not None
        if judge is not None:
            for p in judge.parameters():
                p.requires_grad_(False)
            self.judge = judge.eval()
        else:
            self.judge = ExpressionJudge(num_classes, in_chans, width)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen_judge:
            self.judge.eval()  # a given judge stays in inference mode (its BatchNorm statistics are final)
        return self

    def forward(self, generated: torch.Tensor, x: torch.Tensor, targets: torch.Tensor,
                soft: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Weighted sum of the discriminator, judge and generator terms; ``parts`` holds each unweighted term."""
        if generated.shape != x.shape:
            raise InvalidInputError(f"the generated faces {tuple(generated.shape)} must match the input "
                                    f"{tuple(x.shape)}")
        x = x.detach()
        neutral = targets == self.neutral
        w = self.weights
        zero = generated.sum() * 0.0
        parts: Dict[str, float] = {}

        # discriminator: real = (neutral face, itself), fake = (input, generated.detach())
        d_fake = self.discriminator(x, generated.detach())
        d_loss = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        if bool(neutral.any()):
            xn = x[neutral]
            d_real = self.discriminator(xn, xn)
            d_loss = 0.5 * (d_loss + F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)))
        else:  # no neutral face in this batch: only the fake half, plus a zero that keeps D in the graph
            d_loss = d_loss + 0.0 * sum(p.sum() for p in self.discriminator.parameters())

        # judge trained in the run: cross-entropy on the real images only
        judge_loss = zero
        if not self.frozen_judge:
            judge_loss = classification_loss(self.judge(x), targets, soft)

        # generator: fool the (frozen) discriminator, look neutral to the (frozen) judge, keep the person
        g_adv_map = _frozen_call(self.discriminator, x, generated)
        g_adv = F.binary_cross_entropy_with_logits(g_adv_map, torch.ones_like(g_adv_map))
        judge_logits = _frozen_call(self.judge, generated) if not self.frozen_judge else self.judge(generated)
        g_neutral = F.cross_entropy(judge_logits, torch.full_like(targets, self.neutral))
        g_idt = (generated[neutral] - x[neutral]).abs().mean() if bool(neutral.any()) else zero
        g_rec = (generated[~neutral] - x[~neutral]).abs().mean() if bool((~neutral).any()) else zero

        total = (d_loss + w["judge"] * judge_loss + w["adv"] * g_adv + w["neutral"] * g_neutral
                 + w["idt"] * g_idt + w["rec"] * g_rec)
        parts.update(gan_d=float(d_loss.detach()), gan_adv=float(g_adv.detach()),
                     gan_neutral=float(g_neutral.detach()), gan_idt=float(g_idt.detach()),
                     gan_rec=float(g_rec.detach()), judge_ce=float(judge_loss.detach()))
        return total, parts
