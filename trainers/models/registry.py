"""Model registry: ``create_model(name, num_classes, in_chans, **kw)`` by name, timm-style."""

from __future__ import annotations

from typing import Callable, Dict, List

from fer_edge.errors import InvalidInputError

_REGISTRY: Dict[str, Callable] = {}


def register_model(name: str) -> Callable[[Callable], Callable]:
    """Decorator: register a factory ``fn(num_classes, in_chans, **kw) -> nn.Module`` under ``name``."""

    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def list_models() -> List[str]:
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int, in_chans: int = 1, **kw):
    """Build a registered model.

    Raises:
        InvalidInputError: unknown name (the message lists the known ones) or bad sizes.
    """
    if name not in _REGISTRY:
        raise InvalidInputError(f"Unknown model {name!r}; known models: {', '.join(list_models())}")
    if int(num_classes) < 2:
        raise InvalidInputError(f"num_classes must be >= 2, got {num_classes}")
    if int(in_chans) not in (1, 3):
        raise InvalidInputError(f"in_chans must be 1 (gray) or 3 (RGB), got {in_chans}")
    return _REGISTRY[name](num_classes=int(num_classes), in_chans=int(in_chans), **kw)
