"""Bad arguments → an error code from the launcher and a typed Python error; never an out-of-bounds access.

The same cases go through the C launcher (host build) and the NVRTC path's Python mirror of its checks, which
must agree code for code. test_asan.py runs them again under AddressSanitizer with exact-size buffers.
"""

import ctypes

import numpy as np
import pytest

from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.cuda.base import CudaError
from fer_edge.errors import InvalidInputError
from fer_edge.preprocess import kernel_abi as abi
from fer_edge.preprocess.cuda import preprocess_with_host_kernel
from fer_edge.preprocess.frame_layout import Nv12Frame

CARD = ModelCard(labels=FERPLUS_LABELS, input_size=(16, 16), color="rgb", mean=(0.5,) * 3, std=(0.5,) * 3)
FRAME = np.arange(20 * 30 * 3, dtype=np.uint32).astype(np.uint8).reshape(20, 30, 3)
UV = np.zeros((10, 30), np.uint8)
BOX = np.array([[2, 3, 12, 15]], np.float32)


def cfg(**changes):
    c = abi.make_config(CARD, "bgr", 30, 20, 90, 0, 1.2)
    for key, value in changes.items():
        if key in ("alpha", "beta"):
            getattr(c, key)[0] = value
        else:
            setattr(c, key, value)
    return c


OUT = np.zeros((4, 3, 16, 16), np.float32)
NAN = float("nan")

CASES = {
    "null config": (None, FRAME, None, BOX, OUT, 1),
    "null src": (cfg(), None, None, BOX, OUT, 1),
    "null out": (cfg(), FRAME, None, BOX, None, 1),
    "null boxes": (cfg(), FRAME, None, None, OUT, 1),
    "nv12 without uv": (cfg(src_format=3, src_pitch=30, src_uv_pitch=30), FRAME, None, BOX, OUT, 1),
    "zero width": (cfg(src_width=0), FRAME, None, BOX, OUT, 2),
    "negative height": (cfg(src_height=-4), FRAME, None, BOX, OUT, 2),
    "zero output": (cfg(out_width=0), FRAME, None, BOX, OUT, 2),
    "huge output": (cfg(out_height=abi.MAX_OUTPUT_SIDE + 1), FRAME, None, BOX, OUT, 2),
    "negative box count": (cfg(), FRAME, None, BOX, OUT, 2),
    "odd nv12": (cfg(src_format=3, src_width=29, src_pitch=30, src_uv_pitch=30), FRAME, UV, BOX, OUT, 2),
    "pitch < width": (cfg(src_pitch=89), FRAME, None, BOX, OUT, 3),
    "negative pitch": (cfg(src_pitch=-90), FRAME, None, BOX, OUT, 3),
    "uv pitch < width": (cfg(src_format=3, src_pitch=30, src_uv_pitch=29), FRAME, UV, BOX, OUT, 3),
    "unknown format": (cfg(src_format=7), FRAME, None, BOX, OUT, 4),
    "negative format": (cfg(src_format=-1), FRAME, None, BOX, OUT, 4),
    "nan box": (cfg(), FRAME, None, np.array([[NAN, 0, 5, 5]], np.float32), OUT, 5),
    "inf box": (cfg(), FRAME, None, np.array([[0, 0, np.inf, 5]], np.float32), OUT, 5),
    "empty box": (cfg(), FRAME, None, np.array([[5, 5, 5, 9]], np.float32), OUT, 5),
    "inverted box": (cfg(), FRAME, None, np.array([[5, 9, 9, 2]], np.float32), OUT, 5),
    "square overflows": (cfg(crop_margin=3e38), FRAME, None, np.array([[0, 0, 1e6, 2]], np.float32), OUT, 5),
    "unknown colour": (cfg(out_color=9), FRAME, None, BOX, OUT, 6),
    "unknown output type": (cfg(out_type=2), FRAME, None, BOX, OUT, 6),
    "zero margin": (cfg(crop_margin=0.0), FRAME, None, BOX, OUT, 6),
    "nan margin": (cfg(crop_margin=NAN), FRAME, None, BOX, OUT, 6),
    "nan alpha": (cfg(alpha=NAN), FRAME, None, BOX, OUT, 6),
    "inf beta": (cfg(beta=np.inf), FRAME, None, BOX, OUT, 6),
}


def _ptr(a):
    return None if a is None else a.ctypes.data


@pytest.mark.parametrize("case", sorted(CASES))
def test_launcher_refuses(host_kernel, case):
    config, src, uv, boxes, out, code = CASES[case]
    n = -1 if case == "negative box count" else 1
    before = OUT.copy()
    got = host_kernel.lib.fer_preprocess(None if config is None else ctypes.byref(config), _ptr(src), _ptr(uv),
                                         _ptr(boxes), n, _ptr(out), None)
    assert got == code, f"{case}: {got} ({host_kernel.status_string(got)}), expected {code}"
    np.testing.assert_array_equal(OUT, before)  # nothing written
    if config is not None:
        mirror = abi.validate_launch(config, _ptr(src) or 0, _ptr(uv) or 0,
                                     np.zeros((0, 4), np.float32) if boxes is None or n < 0 else boxes,
                                     _ptr(out) or 0)
        if case not in ("null boxes", "negative box count"):  # the Python path has no such argument shapes
            assert mirror == code, f"NVRTC-path checks disagree on {case}: {mirror} vs {code}"
    with pytest.raises(abi.KernelStatusError) as info:
        abi.check_status(got)
    assert info.value.code == code and isinstance(info.value, InvalidInputError)


def test_zero_boxes_is_a_no_op(host_kernel):
    assert host_kernel.lib.fer_preprocess(ctypes.byref(cfg()), _ptr(FRAME), None, None, 0, None, None) == 0


def test_cuda_status_is_a_cuda_error():
    with pytest.raises(CudaError, match="CUDA error 2"):
        abi.check_status(abi.ERR_CUDA + 2)


def test_python_front_end_rejects_bad_frames_and_boxes(host_kernel):
    with pytest.raises(InvalidInputError, match="NaN"):
        preprocess_with_host_kernel(host_kernel, FRAME, [[np.nan, 0, 4, 4]], CARD)
    with pytest.raises(InvalidInputError, match="uint8"):
        preprocess_with_host_kernel(host_kernel, FRAME.astype(np.float32), None, CARD)
    with pytest.raises(InvalidInputError, match="even-sized"):
        preprocess_with_host_kernel(host_kernel, Nv12Frame(np.zeros((5, 4), np.uint8), np.zeros((2, 4), np.uint8)),
                                    None, CARD)
    with pytest.raises(InvalidInputError, match="float32 or float16"):
        preprocess_with_host_kernel(host_kernel, FRAME, None, CARD, out_dtype=np.float64)


def test_abi_mirror_matches_the_library(host_kernel):
    import re

    from fer_edge.preprocess.kernel_sources import kernel_root

    assert host_kernel.launch_params_size() == ctypes.sizeof(abi.FerLaunchParams)
    header = (kernel_root() / "include" / "fer_edge" / "preprocess.h").read_text()
    defines = dict(re.findall(r"#define (FER_\w+) (-?\d+)", header))
    assert int(defines["FER_PREPROCESS_ABI_VERSION"]) == abi.ABI_VERSION
    assert int(defines["FER_MAX_BOXES_PER_LAUNCH"]) == abi.MAX_BOXES_PER_LAUNCH
    assert int(defines["FER_ERR_CUDA"]) == abi.ERR_CUDA
    for name, value in abi.SOURCE_FORMATS.items():
        assert int(defines[f"FER_SOURCE_{name.upper()}"]) == value
    for name, value in abi.COLORS.items():
        assert int(defines[f"FER_COLOR_{name.upper()}"]) == value
    for code, name in abi.STATUS.items():
        assert int(defines[f"FER_ERR_{name}"]) == code
    assert not host_kernel.device
