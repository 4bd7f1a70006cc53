"""Optimisers and gradient transforms beyond torch.optim: Ranger (RAdam + Lookahead), gradient centralisation."""

from .grad_centralization import centralize_gradients
from .ranger import Ranger

__all__ = ["Ranger", "centralize_gradients"]
