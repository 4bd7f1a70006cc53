"""Typed errors: every message says what happened and what to do next."""

__all__ = [
    "FerEdgeError",
    "InvalidInputError",
    "ModelFormatError",
    "EngineMismatchError",
    "MissingDependencyError",
]


class FerEdgeError(Exception):
    """Base of every error fer_edge raises on purpose."""


class InvalidInputError(FerEdgeError, ValueError, TypeError):
    """The caller passed data fer_edge cannot use (wrong type, shape, dtype, range)."""


class ModelFormatError(FerEdgeError, ValueError):
    """A model file is unreadable, of an unknown kind, or its card disagrees with the graph."""


class EngineMismatchError(FerEdgeError, RuntimeError):
    """A TensorRT engine was built for another device, TensorRT version or model."""


class MissingDependencyError(FerEdgeError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, module: str, extra: str, purpose: str = "", hint: str = ""):
        self.module = module
        self.extra = extra
        why = f" (needed for {purpose})" if purpose else ""
        more = f". {hint}" if hint else ""
        super().__init__(
            f"'{module}' is not installed{why}. Install it with: pip install 'fer-edge[{extra}]'{more}"
        )
