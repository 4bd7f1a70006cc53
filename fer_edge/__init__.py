"""fer_edge: facial expression recognition for robots and cameras.

    >>> import fer_edge
    >>> faces = fer_edge.Recognizer().predict(frame)   # frame: BGR uint8 from OpenCV
"""

from ._version import __version__
from .card import ModelCard
from .draw import draw
from .errors import (
    EngineMismatchError,
    FerEdgeError,
    InvalidInputError,
    MissingDependencyError,
    ModelFormatError,
)
from .face import Face
from .preprocess import preprocess
from .recognizer import Recognizer


def stream(source, model=None, **kw):
    """Per-frame results from a video source with a new Recognizer; see ``fer_edge.pipeline.stream``."""
    from .pipeline import stream as _stream

    return _stream(source, model=model, **kw)


__all__ = [
    "Recognizer",
    "Face",
    "ModelCard",
    "draw",
    "preprocess",
    "stream",
    "FerEdgeError",
    "InvalidInputError",
    "ModelFormatError",
    "EngineMismatchError",
    "MissingDependencyError",
    "__version__",
]
