"""Preprocessing: face boxes of a frame → the network's NCHW input batch.

``reference`` is the spec (float32 numpy), ``opencv`` the CPU runtime path (cv2.warpAffine); every name
the former single module ``fer_edge/preprocess.py`` exported is re-exported here.
"""

from .inputs import as_bgr_frame, validate_boxes
from .opencv import preprocess, preprocess_crops
from .reference import GRAY_WEIGHTS_BGR, preprocess_reference, square_boxes

__all__ = [
    "GRAY_WEIGHTS_BGR",
    "as_bgr_frame",
    "preprocess",
    "preprocess_crops",
    "preprocess_reference",
    "square_boxes",
    "validate_boxes",
]
