"""Face detectors: bundled YuNet and BlazeFace, and ``create_detector`` to pick one by name (see ``registry``)."""

from __future__ import annotations

from .base import LANDMARK_NAMES, Detections, FaceDetector
from .blazeface import BlazeFace
from .registry import DEFAULT_DETECTOR, REGISTRY, create_detector, detector_entry, detector_names
from .yunet import YUNET_LANDMARK_NAMES, YuNet

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "LANDMARK_NAMES", "REGISTRY", "YUNET_LANDMARK_NAMES", "BlazeFace",
           "Detections", "FaceDetector", "YuNet", "create_detector", "detector_entry", "detector_names"]

#: Registered detector names (kept for callers of the old ``DETECTORS`` mapping: iterate or test membership).
DETECTORS = detector_names()
