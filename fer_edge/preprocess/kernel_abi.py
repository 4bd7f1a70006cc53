"""The C ABI of ``cpp_ext/include/fer_edge/preprocess.h`` in ctypes: constants, structs, status codes → errors.

Both kernel builds (the nvcc/g++ shared library and the NVRTC-compiled kernel) are driven through these
structures; ``FerLaunchParams`` is the kernel's by-value argument and is checked against the library's own
``sizeof`` in tests.
"""

from __future__ import annotations

import ctypes
from typing import Optional

import numpy as np

from ..card import ModelCard
from ..cuda.base import CudaError
from ..errors import InvalidInputError

ABI_VERSION = 1
MAX_BOXES_PER_LAUNCH = 64
MAX_SOURCE_SIDE = 65536
MAX_OUTPUT_SIDE = 4096

SOURCE_FORMATS = {"bgr": 0, "bgra": 1, "gray": 2, "nv12": 3}
COLORS = {"gray": 0, "rgb": 1, "bgr": 2}
OUTPUT_TYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1}

OK = 0
STATUS = {
    1: "NULL_POINTER",
    2: "BAD_SIZE",
    3: "BAD_PITCH",
    4: "BAD_FORMAT",
    5: "BAD_BOX",
    6: "BAD_CONFIG",
}
ERR_CUDA = 1000

BLOCK = (32, 8)  # threads per block of fer_preprocess_kernel (FER_BLOCK_X, FER_BLOCK_Y)


class FerPreprocessConfig(ctypes.Structure):
    _fields_ = [
        ("src_format", ctypes.c_int),
        ("src_width", ctypes.c_int),
        ("src_height", ctypes.c_int),
        ("src_pitch", ctypes.c_int),
        ("src_uv_pitch", ctypes.c_int),
        ("out_width", ctypes.c_int),
        ("out_height", ctypes.c_int),
        ("out_color", ctypes.c_int),
        ("out_type", ctypes.c_int),
        ("crop_margin", ctypes.c_float),
        ("alpha", ctypes.c_float * 3),
        ("beta", ctypes.c_float * 3),
    ]


class FerLaunchParams(ctypes.Structure):
    _fields_ = [
        ("config", FerPreprocessConfig),
        ("src", ctypes.c_void_p),
        ("src_uv", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("num_boxes", ctypes.c_int),
        ("boxes", (ctypes.c_float * 4) * MAX_BOXES_PER_LAUNCH),
    ]


class KernelStatusError(InvalidInputError):
    """The launcher refused its arguments (``code`` is the FER_ERR_* value)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def check_status(code: int, what: str = "fer_preprocess") -> None:
    """Raise the typed error for a launcher status: KernelStatusError for bad arguments, CudaError for CUDA."""
    code = int(code)
    if code == OK:
        return
    if code >= ERR_CUDA:
        raise CudaError(f"{what}: CUDA error {code - ERR_CUDA} while launching the preprocessing kernel; "
                        "check the driver (nvidia-smi) and that the kernel was built for this GPU")
    name = STATUS.get(code, f"status {code}")
    raise KernelStatusError(code, f"{what} refused its arguments: FER_ERR_{name}; see cpp_ext/README.md (ABI)")


def output_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in OUTPUT_TYPES:
        raise InvalidInputError(f"the preprocessing kernel writes float32 or float16, not {dtype}")
    return dtype


def make_config(card: ModelCard, source_format: str, width: int, height: int, pitch: int, uv_pitch: int,
                margin: float, out_dtype=np.float32) -> FerPreprocessConfig:
    """The POD config for one frame layout and one model card."""
    alpha, beta = card.alpha_beta()
    cfg = FerPreprocessConfig()
    cfg.src_format = SOURCE_FORMATS[source_format]
    cfg.src_width, cfg.src_height = int(width), int(height)
    cfg.src_pitch, cfg.src_uv_pitch = int(pitch), int(uv_pitch)
    cfg.out_height, cfg.out_width = (int(v) for v in card.input_size)
    cfg.out_color = COLORS[card.color]
    cfg.out_type = OUTPUT_TYPES[output_dtype(out_dtype)]
    cfg.crop_margin = float(np.float32(margin))
    for k in range(3):
        cfg.alpha[k] = float(np.float32(alpha[min(k, len(alpha) - 1)]))
        cfg.beta[k] = float(np.float32(beta[min(k, len(beta) - 1)]))
    return cfg


def _finite(values) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=np.float32))))


def validate_launch(cfg: FerPreprocessConfig, src: int, src_uv: int, boxes: np.ndarray, out: Optional[int]) -> int:
    """The launcher's argument checks (fer_validate in preprocess.cu) for the NVRTC path, which has no C host code.

    Returns the same status code the C launcher would; tests compare the two on the same bad inputs.
    """
    n = int(boxes.shape[0])
    bpp = {0: 3, 1: 4, 2: 1, 3: 1}.get(cfg.src_format, 0)
    if not src:
        return 1
    if n > 0 and not out:
        return 1
    if bpp == 0:
        return 4
    if cfg.src_format == 3 and not src_uv:
        return 1
    if not (0 < cfg.src_width <= MAX_SOURCE_SIDE and 0 < cfg.src_height <= MAX_SOURCE_SIDE):
        return 2
    if not (0 < cfg.out_width <= MAX_OUTPUT_SIDE and 0 < cfg.out_height <= MAX_OUTPUT_SIDE):
        return 2
    if cfg.src_pitch < cfg.src_width * bpp:
        return 3
    if cfg.src_format == 3:
        if cfg.src_width % 2 or cfg.src_height % 2:
            return 2
        if cfg.src_uv_pitch < cfg.src_width:
            return 3
    if cfg.out_color not in COLORS.values() or cfg.out_type not in OUTPUT_TYPES.values():
        return 6
    if not _finite([cfg.crop_margin]) or not cfg.crop_margin > 0 or not _finite(list(cfg.alpha) + list(cfg.beta)):
        return 6
    if n:
        b = np.asarray(boxes, dtype=np.float32)
        if not _finite(b) or np.any(b[:, 2] <= b[:, 0]) or np.any(b[:, 3] <= b[:, 1]):
            return 5
        from .reference import square_boxes

        with np.errstate(over="ignore", invalid="ignore"):
            sq = square_boxes(b, cfg.crop_margin)
            scale = (sq[:, 2:] - sq[:, :2]) / np.asarray([cfg.out_width, cfg.out_height], np.float32)
        if not (_finite(sq[:, :2]) and _finite(scale)):
            return 5
    return OK


def launch_params(cfg: FerPreprocessConfig, src: int, src_uv: int, boxes: np.ndarray, out: int) -> FerLaunchParams:
    """One launch's by-value kernel argument (at most MAX_BOXES_PER_LAUNCH boxes)."""
    n = int(boxes.shape[0])
    if n > MAX_BOXES_PER_LAUNCH:
        raise InvalidInputError(f"one launch takes at most {MAX_BOXES_PER_LAUNCH} boxes, got {n}")
    p = FerLaunchParams()
    p.config = cfg
    p.src, p.src_uv, p.out = int(src), int(src_uv) if cfg.src_format == 3 else None, int(out)
    p.num_boxes = n
    if n:
        ctypes.memmove(ctypes.addressof(p.boxes), np.ascontiguousarray(boxes, np.float32).ctypes.data, 16 * n)
    return p


def bytes_per_box(cfg: FerPreprocessConfig) -> int:
    channels = 1 if cfg.out_color == COLORS["gray"] else 3
    return channels * cfg.out_height * cfg.out_width * (2 if cfg.out_type == 1 else 4)
