"""An ensemble of independently initialised networks (the seed literature trains each with label smoothing),
averaged at inference."""

from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from fer_edge.errors import InvalidInputError

from .esr import combine_votes
from .registry import create_model, register_model

__all__ = ["Ensemble"]


class Ensemble(nn.Module):
    """``num_members`` networks of the registered architecture ``arch``; ``forward`` = log of the mean softmax.

    Train with ``LossConfig(label_smoothing=0.1)``: the loss is the sum of the members' cross-entropies
    (``branch_logits``), so the members learn independently on the same batches.
    """

    def __init__(self, num_classes: int, in_chans: int = 3, arch: str = "resnet18", num_members: int = 3,
                 member_kwargs: Optional[dict] = None):
        super().__init__()
        if int(num_members) < 1:
            raise InvalidInputError(f"ensemble needs num_members >= 1, got {num_members}")
        if arch == "ensemble":
            raise InvalidInputError("an ensemble cannot contain ensembles; pick a single-network arch")
        self.members = nn.ModuleList([create_model(arch, num_classes, in_chans, **(member_kwargs or {}))
                                      for _ in range(int(num_members))])
        self.feature_dim = getattr(self.members[0], "feature_dim", None)

    def forward_train(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        from .outputs import train_outputs

        outs = [train_outputs(m, x) for m in self.members]
        logits = [o["logits"] for o in outs]
        res = {"logits": combine_votes(logits, "average"), "branch_logits": logits}
        if all("features" in o for o in outs):
            feats = [o["features"] for o in outs]
            res["features"] = torch.stack(feats).mean(dim=0)
            if len({f.shape for f in feats}) == 1:
                res["branch_features"] = torch.stack(feats)
        return res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return combine_votes([m(x) for m in self.members], "average")


@register_model("ensemble")
def ensemble(num_classes: int, in_chans: int = 3, **kw) -> Ensemble:
    """``arch`` (default resnet18) × ``num_members`` (default 3), averaged."""
    return Ensemble(num_classes, in_chans, **kw)
