"""ESR: Ensembles with Shared Representations (Siqueira et al. AAAI 2020): one shared base, many small branches.

Spec: ``research/methods.md`` §5 (and §3.2 for the CBAM variant the diversity loss was applied to).
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from fer_edge.errors import InvalidInputError

from .common import CBAM, ConvBNAct, check_act, init_weights
from .registry import register_model

__all__ = ["ESR", "combine_votes"]


def combine_votes(branch_logits: List[torch.Tensor], vote: str = "plurality") -> torch.Tensor:
    """Combine branch logits into one (n, C) log-probability output.

    "average": log of the mean branch softmax. "plurality": log((votes + p̄) / (m + 1)), where votes counts the
    branches whose argmax is each class and p̄ is the mean softmax; rows still sum to 1 after softmax, the
    argmax is the plurality vote, and ties are broken by the mean probability.
    """
    probs = torch.stack([F.softmax(z.float(), dim=1) for z in branch_logits])  # (m, n, C)
    mean = probs.mean(dim=0)
    if vote == "average":
        return mean.clamp_min(1e-12).log()
    if vote == "plurality":
        c = probs.shape[-1]
        votes = F.one_hot(probs.argmax(dim=-1), c).to(mean.dtype).sum(dim=0)
        return ((votes + mean) / (len(branch_logits) + 1)).clamp_min(1e-12).log()
    raise InvalidInputError(f"vote must be 'plurality' or 'average', got {vote!r}")


class _Stage(nn.Module):
    """conv-BN-act (+ CBAM) (+ 2×2 max-pool)."""

    def __init__(self, cin: int, cout: int, k: int, pad: int, act: str, cbam: bool, pool: bool):
        super().__init__()
        self.conv = ConvBNAct(cin, cout, k, padding=pad, act=act)
        self.cbam = CBAM(cout) if cbam else None
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor, maps: bool = False):
        x = self.conv(x)
        ca = sa = None
        if self.cbam is not None:
            x, ca, sa = self.cbam.forward_maps(x)
        x = self.pool(x)
        return (x, ca, sa) if maps else x


class _Branch(nn.Module):
    def __init__(self, num_classes: int, pad: int, act: str, cbam: bool):
        super().__init__()
        self.stages = nn.ModuleList([
            _Stage(128, 128, 3, pad, act, cbam, False), _Stage(128, 256, 3, pad, act, cbam, True),
            _Stage(256, 256, 3, pad, act, cbam, False), _Stage(256, 512, 3, 1, act, cbam, False)])
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor):
        for s in self.stages[:-1]:
            x = s(x)
        x, ca, sa = self.stages[-1](x, maps=True)
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        spatial = sa if sa is not None else x.mean(dim=1).flatten(1)
        channel = ca if ca is not None else pooled
        return self.fc(pooled), pooled, channel, spatial


class ESR(nn.Module):
    """Shared base (4 convs) + ``num_branches`` branches (4 convs, GAP, linear), combined by vote.

    Args:
        num_classes: C.
        in_chans: 1 or 3.
        num_branches: ensemble size (9 = ESR-9).
        vote: "plurality" (published) or "average" — how ``forward`` combines the branches.
        padding: "same" (default; works at any input ≥ 16, e.g. 48 px FER crops) or "valid" (the published
            geometry at 96×96: 128×20×20 after the base). Parameter counts are identical.
        cbam: add CBAM after every conv (the diversified-ESR variant); the diversity loss then reads the last
            CBAM's channel and spatial attention of each branch.
        act: activation override (e.g. "mish").

    ``forward_train`` gives ``branch_logits`` (the loss sums the per-branch CEs), ``branch_features`` (m, n, D)
    and ``branch_spatial`` (m, n, H·W) for the diversity loss, ``features`` (mean of branch GAP features).
    """

    def __init__(self, num_classes: int, in_chans: int = 3, num_branches: int = 9, vote: str = "plurality",
                 padding: str = "same", cbam: bool = False, act: Optional[str] = None):
        super().__init__()
        if padding not in ("same", "valid"):
            raise InvalidInputError(f"ESR padding must be 'same' or 'valid', got {padding!r}")
        if vote not in ("plurality", "average"):
            raise InvalidInputError(f"ESR vote must be 'plurality' or 'average', got {vote!r}")
        if int(num_branches) < 1:
            raise InvalidInputError(f"ESR needs num_branches >= 1, got {num_branches}")
        act = check_act(act) or "relu"
        p3, p5 = (1, 2) if padding == "same" else (0, 0)
        self.base = nn.Sequential(
            _Stage(in_chans, 64, 5, p5, act, cbam, False), _Stage(64, 128, 3, p3, act, cbam, True),
            _Stage(128, 128, 3, p3, act, cbam, False), _Stage(128, 128, 3, p3, act, cbam, True))
        self.branches = nn.ModuleList([_Branch(num_classes, p3, act, cbam) for _ in range(int(num_branches))])
        self.vote, self.padding = vote, padding
        self.feature_dim = 512
        init_weights(self)

    def _shared(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.base(x)
        if min(shared.shape[-2:]) < (10 if self.padding == "valid" else 2):
            raise InvalidInputError(
                f"ESR input {tuple(x.shape[-2:])} is too small for padding={self.padding!r}; use >= 96 px with "
                "'valid' padding or >= 16 px with 'same'")
        return shared

    def forward_train(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        shared = self._shared(x)
        outs = [b(shared) for b in self.branches]
        logits = [o[0] for o in outs]
        return {
            "logits": combine_votes(logits, self.vote),
            "branch_logits": logits,
            "features": torch.stack([o[1] for o in outs]).mean(dim=0),
            "branch_features": torch.stack([o[2] for o in outs]),
            "branch_spatial": torch.stack([o[3] for o in outs]),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self._shared(x)
        return combine_votes([b(shared)[0] for b in self.branches], self.vote)


@register_model("esr")
def esr(num_classes: int, in_chans: int = 3, **kw) -> ESR:
    """ESR with ``num_branches`` (default 9) branches."""
    return ESR(num_classes, in_chans, **kw)


@register_model("esr_9")
def esr_9(num_classes: int, in_chans: int = 3, **kw) -> ESR:
    """ESR-9, the published ensemble size."""
    kw.setdefault("num_branches", 9)
    return ESR(num_classes, in_chans, **kw)


@register_model("esr_9_cbam")
def esr_9_cbam(num_classes: int, in_chans: int = 3, **kw) -> ESR:
    """ESR-9 with CBAM after every conv: the network the diversity loss was published on."""
    kw.setdefault("num_branches", 9)
    kw.setdefault("cbam", True)
    return ESR(num_classes, in_chans, **kw)
