"""Backbones and heads written in-house (no torchvision/timm on the CPU machine); see ``create_model``."""

# Importing a model module registers its factories.
from . import derl, edgenet, ensemble, esr, manet, zoo  # noqa: F401
from .heads import attach_head
from .outputs import train_outputs
from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model", "attach_head", "train_outputs"]
