"""Backbones and heads written in-house (no torchvision/timm on the CPU machine); see ``create_model``."""

from .registry import create_model, list_models, register_model

# Importing a model module registers its factories.
from . import edgenet  # noqa: F401,E402
from . import ensemble, esr, manet, zoo  # noqa: F401,E402
from .heads import attach_head  # noqa: E402
from .outputs import train_outputs  # noqa: E402

__all__ = ["create_model", "list_models", "register_model", "attach_head", "train_outputs"]
