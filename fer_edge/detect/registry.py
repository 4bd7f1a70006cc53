"""Detector registry: name → factory and the options it accepts, validated before anything loads.

``create_detector``, the CLI's ``--detector`` choices, ``fer-edge bench`` and ``fer-edge eval-detector`` all read
``REGISTRY``, so a new detector is one file plus one ``DetectorEntry`` line here.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from ..errors import InvalidInputError
from .base import FaceDetector

__all__ = ["DEFAULT_DETECTOR", "DetectorEntry", "OPTIONS", "REGISTRY", "Option", "create_detector",
           "detector_entry", "detector_names", "validate_options"]


@dataclass(frozen=True)
class Option:
    """One keyword option a detector factory accepts: how to check a value, and how to describe valid ones."""

    valid: str
    check: Callable[[Any], bool]


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _in_unit(value) -> bool:
    return _number(value) and 0.0 <= float(value) <= 1.0


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1


def _input_size(value) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    return bool(values) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 32
                                for v in values)


#: Every option any bundled detector accepts.
OPTIONS: Dict[str, Option] = {
    "score_threshold": Option("a number in [0, 1]", _in_unit),
    "iou_threshold": Option("a number in [0, 1]", _in_unit),
    "min_face": Option("a number of pixels >= 0", lambda v: _number(v) and float(v) >= 0),
    "max_faces": Option("an integer >= 1 or None", lambda v: v is None or _positive_int(v)),
    "input_size": Option("an integer >= 32 (pixels, longer side) or a list of them", _input_size),
    "verify_below": Option("a number in [0, 1]", _in_unit),
    "verify_threshold": Option("a number in [0, 1]", _in_unit),
    "verify_min_fraction": Option("a number in [0, 1]", _in_unit),
    "blend": Option("True or False", lambda v: isinstance(v, bool)),
    "raw_boxes": Option("True or False", lambda v: isinstance(v, bool)),
    "threads": Option("an integer >= 1 or None", lambda v: v is None or _positive_int(v)),
    "providers": Option("a list of ONNX Runtime provider names or None",
                        lambda v: v is None or (isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v))),
    "model_path": Option("a path to an .onnx file or None", lambda v: v is None or isinstance(v, (str, os.PathLike))),
}

_COMMON = ("score_threshold", "iou_threshold", "min_face", "max_faces", "threads", "providers", "model_path")


@dataclass(frozen=True)
class DetectorEntry:
    """A registered detector: how to build it, which options it takes, and a one-line summary for help texts."""

    name: str
    summary: str
    factory: Callable[..., Optional[FaceDetector]]
    options: Tuple[str, ...]


def _yunet(**options) -> FaceDetector:
    from .yunet import YuNet

    return YuNet(**options)


def _yunet_far(**options) -> FaceDetector:
    from .yunet import YuNet

    options.setdefault("input_size", (640, 160))
    return YuNet(**options)


def _blazeface(variant: str) -> Callable[..., FaceDetector]:
    def build(**options) -> FaceDetector:
        from .blazeface import BlazeFace

        return BlazeFace(variant, **options)

    return build


_YUNET_OPTIONS = _COMMON + ("input_size", "verify_below", "verify_threshold", "verify_min_fraction", "raw_boxes")
_BLAZEFACE_OPTIONS = _COMMON + ("blend",)

REGISTRY: Dict[str, DetectorEntry] = {e.name: e for e in (
    DetectorEntry("yunet", "YuNet at 320 px: faces from ~1/10 of the frame to close-ups", _yunet,
                  _YUNET_OPTIONS),
    DetectorEntry("yunet_far", "YuNet at 640 + 160 px: also far faces (20-60 px at 640x480), ~4x the cost", _yunet_far,
                  _YUNET_OPTIONS),
    DetectorEntry("blazeface", "BlazeFace short range: faces wider than ~1/8 of the frame", _blazeface("short"),
                  _BLAZEFACE_OPTIONS),
    DetectorEntry("blazeface_full", "BlazeFace full range: faces wider than ~1/15 of the frame",
                  _blazeface("full"), _BLAZEFACE_OPTIONS),
    DetectorEntry("none", "no detector: every input is already a face crop", lambda: None, ()),
)}
_ALIASES = {"blazeface_short": "blazeface"}

#: What ``Recognizer`` and the CLI use when no detector is named (chosen by measurement: docs/detector.md).
DEFAULT_DETECTOR = "yunet"


def detector_names() -> Tuple[str, ...]:
    """Registered detector names, in registry order (the CLI's ``--detector`` choices)."""
    return tuple(REGISTRY)


def detector_entry(name: str) -> DetectorEntry:
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in REGISTRY:
        raise InvalidInputError(
            f"unknown face detector {name!r}; use one of {list(REGISTRY)} ('none': the input is a face crop), "
            "None, or a fer_edge.detect.FaceDetector instance"
        )
    return REGISTRY[key]


def validate_options(name: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Check ``options`` for detector ``name``; raises InvalidInputError naming the valid options or values."""
    entry = detector_entry(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        valid = list(entry.options) or "none"
        raise InvalidInputError(f"unknown option(s) {unknown} for detector {entry.name!r}; valid options: {valid}")
    for key, value in options.items():
        option = OPTIONS[key]
        if not option.check(value):
            raise InvalidInputError(f"detector option {key}={value!r} is invalid for {entry.name!r}: "
                                    f"use {option.valid}")
    if entry.name.startswith("blazeface") and "score_threshold" in options \
            and not 0.0 < float(options["score_threshold"]) < 1.0:
        raise InvalidInputError(f"BlazeFace compares scores in logit space: score_threshold must be in (0, 1), "
                                f"got {options['score_threshold']}")
    return dict(options)


def create_detector(spec: Any, **options) -> Optional[FaceDetector]:
    """Turn a detector spec into a detector.

    Args:
        spec: a registered name (``detector_names()``; "none" returns None), a ``FaceDetector`` instance
            (returned as is), or None (no detector: the input is already a face crop; returns None).
        **options: validated against the named detector's options (``REGISTRY[name].options``).
    """
    if spec is None:
        return None
    if isinstance(spec, FaceDetector):
        if options:
            raise InvalidInputError(f"options {sorted(options)} apply only when the detector is given by name")
        return spec
    if isinstance(spec, str):
        entry = detector_entry(spec)
        return entry.factory(**validate_options(entry.name, options))
    raise InvalidInputError(
        f"detector must be a name ({list(REGISTRY)}), None or a FaceDetector, got {type(spec).__name__}"
    )
