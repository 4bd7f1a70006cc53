"""The training-loop protocol: one call that gives every model's training outputs as a dict.

Every model's ``forward(x)`` returns logits (what ONNX export sees). Models with auxiliary outputs also have
``forward_train(x) -> dict`` with these keys (all optional except ``"logits"``):

- ``"logits"``: (n, C) the prediction used for accuracy (ensembles: the combined vote).
- ``"features"``: (n, d) the pooled vector the classifier (or the Ad-Corre embedding heads) reads; ``d`` is the
  model's ``feature_dim`` (used by the weighted-cluster loss).
- ``"embeddings"``: (k, n, d) L2-normalised Ad-Corre embeddings.
- ``"branch_logits"``: list of (n, C), one per ensemble branch; the cross-entropy is applied to each branch and
  weighted by ``"branch_weights"`` (tuple of floats; default 1 each, i.e. the ESR sum).
- ``"branch_features"``: (m, n, D) per-branch pooled features (diversity loss, "global"/"channel" term).
- ``"branch_spatial"``: (m, n, H*W) per-branch spatial maps (diversity loss, spatial term).
- ``"patch_features"``, ``"patch_spatial"``: the same for MA-Net's local patches.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

__all__ = ["train_outputs"]


def train_outputs(model: nn.Module, x: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Run ``model`` for training: ``forward_train(x)`` when it has one, else ``{"logits": model(x)}``.

    Works through ``DistributedDataParallel`` (and other ``.module`` wrappers): the wrapper itself is called, so
    DDP's forward bookkeeping runs, with the inner model's ``forward`` routed to ``forward_train`` for that call.
    """
    inner = getattr(model, "module", model)
    if not hasattr(inner, "forward_train"):
        return {"logits": model(x)}
    if inner is model:
        out = model.forward_train(x)
    else:
        inner.forward = inner.forward_train  # instance attribute shadows the class's forward for this call
        try:
            out = model(x)
        finally:
            del inner.forward
    if not isinstance(out, dict) or "logits" not in out:
        raise TypeError(f"{type(inner).__name__}.forward_train must return a dict with a 'logits' key")
    return out
