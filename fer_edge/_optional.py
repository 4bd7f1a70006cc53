"""Optional imports that fail with a MissingDependencyError naming the pip extra (Polygraphy's lazy-import habit)."""

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise MissingDependencyError telling which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, extra, purpose) from exc


def available(module: str) -> bool:
    """True when ``module`` can be imported (without raising)."""
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


# Top-level module → the pip extra that installs it (the extras of setup.py).
EXTRA_OF = {
    "torch": "train", "torchvision": "train", "tqdm": "train", "yaml": "train",
    "onnx": "export", "onnxsim": "export",
    "matplotlib": "plot", "tensorrt": "trt", "cuda": "cuda", "pycuda": "pycuda", "modelopt": "modelopt",
}


def missing_dependency(exc: ModuleNotFoundError, purpose: str = "") -> MissingDependencyError:
    """The MissingDependencyError for an optional module that failed to import (the extra named by EXTRA_OF)."""
    top = (exc.name or "").split(".")[0]
    return MissingDependencyError(top or str(exc), EXTRA_OF.get(top, "all"), purpose)


def require_all(modules, purpose: str = "") -> None:
    """Check every ``(module, extra)`` pair; one MissingDependencyError names all the missing ones and extras."""
    missing = [(m, e) for m, e in modules if not available(m)]
    if missing:
        names = ", ".join(dict.fromkeys(m for m, _ in missing))
        extras = ",".join(dict.fromkeys(e for _, e in missing))
        raise MissingDependencyError(names, extras, purpose)
