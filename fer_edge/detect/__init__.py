"""Face detectors: the bundled offline BlazeFace and ``create_detector`` to pick one by name."""

from __future__ import annotations

import inspect
from typing import Optional, Union

from ..errors import InvalidInputError
from .base import LANDMARK_NAMES, Detections, FaceDetector
from .blazeface import BlazeFace

__all__ = ["DETECTORS", "LANDMARK_NAMES", "BlazeFace", "Detections", "FaceDetector", "create_detector"]

#: detector name → BlazeFace variant.
DETECTORS = {"blazeface": "short", "blazeface_short": "short", "blazeface_full": "full"}


def create_detector(spec: Union[str, FaceDetector, None], **options) -> Optional[FaceDetector]:
    """Turn a detector spec into a detector.

    Args:
        spec: a name ("blazeface" = short range, "blazeface_full" = full range), a ``FaceDetector`` instance
            (returned as is), or None (no detector: the input is already a face crop; returns None).
        **options: passed to ``BlazeFace`` (score_threshold, iou_threshold, min_face, max_faces, threads,
            providers) when ``spec`` is a name.
    """
    if spec is None:
        return None
    if isinstance(spec, FaceDetector):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in DETECTORS:
            allowed = [name for name in inspect.signature(BlazeFace).parameters if name != "variant"]
            unknown = sorted(set(options) - set(allowed))
            if unknown:
                raise InvalidInputError(f"unknown option(s) {unknown} for detector {spec!r}; use {allowed}")
            return BlazeFace(DETECTORS[key], **options)
        raise InvalidInputError(
            f"unknown face detector {spec!r}; use one of {sorted(DETECTORS)}, None (input is a face crop) "
            "or a fer_edge.detect.FaceDetector instance"
        )
    raise InvalidInputError(
        f"detector must be a name ({sorted(DETECTORS)}), None or a FaceDetector, got {type(spec).__name__}"
    )
