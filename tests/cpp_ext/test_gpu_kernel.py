"""The real kernel on a real GPU (``gpu`` marker: skipped without a CUDA device; part of ``make gpu-check``).

Both ways the runtime gets the kernel are checked against preprocess_reference: the nvcc library (the one
``make cpp_ext`` installed, else compiled here for this GPU with ``nvcc -arch=native``) and the NVRTC compile.
The timing test prints kernel vs CPU-path times for 1, 8 and 32 faces (and writes them as JSON to
``$FER_EDGE_GPU_REPORT`` when set) for docs/VERIFICATION.md.
"""

import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.preprocess import preprocess, preprocess_reference
from fer_edge.preprocess.frame_layout import Nv12Frame

pytestmark = pytest.mark.gpu

TOL = 1e-4  # grey levels before normalisation


@pytest.fixture(scope="module")
def api():
    from fer_edge.cuda import cuda_api

    layer = cuda_api()
    yield layer
    layer.close()


@pytest.fixture(scope="module")
def library_kernel(tmp_path_factory):
    from fer_edge.preprocess.cuda import library_path
    from fer_edge.preprocess.kernel_launchers import SharedLibraryKernel
    from fer_edge.preprocess.kernel_sources import include_dirs, kernel_path

    path = library_path()
    if path is None:
        nvcc = shutil.which("nvcc")
        if nvcc is None:
            pytest.skip("no built library (make cpp_ext) and no nvcc to build one")
        path = tmp_path_factory.mktemp("gpu_lib") / "libfer_edge_preproc.so"
        subprocess.run([nvcc, "-arch=native", "-shared", "-Xcompiler", "-fPIC,-ffp-contract=off", "-fmad=false",
                        "-cudart", "static", *(f"-I{d}" for d in include_dirs()), str(kernel_path()), "-o",
                        str(path)], check=True)
    kernel = SharedLibraryKernel(path)
    assert kernel.device
    return kernel


@pytest.fixture(scope="module")
def nvrtc_kernel(tmp_path_factory, api):
    from fer_edge.preprocess.kernel_launchers import NvrtcKernel, nvrtc_status

    ok, why = nvrtc_status()
    if not ok:
        pytest.skip(why)
    return NvrtcKernel(device=0, cache=tmp_path_factory.mktemp("nvrtc_cache"))


def card_for(color, size=(48, 48)):
    c = 1 if color == "gray" else 3
    return ModelCard(labels=FERPLUS_LABELS, input_size=size, color=color, mean=(0.5,) * c, std=(0.25,) * c)


def random_boxes(rng, h, w, n=12):
    x1, y1 = rng.uniform(-0.3 * w, w, n), rng.uniform(-0.3 * h, h, n)
    boxes = np.stack([x1, y1, x1 + rng.uniform(1, w, n), y1 + rng.uniform(1, h, n)], 1)
    extra = [[0, 0, w, h], [5, 5, 6, 6], [-3 * w, -3 * h, -2 * w, -2 * h]]
    return np.concatenate([boxes, extra]).astype(np.float32)


def run_on_gpu(api, kernel, frame, boxes, card, dtype=np.float32):
    """Through CudaPreprocessor.write into a device buffer, then one copy back."""
    from fer_edge.preprocess.cuda import CudaPreprocessor

    pre = CudaPreprocessor(api=api, kernel=kernel)
    try:
        n = boxes.shape[0]
        out = np.empty((n,) + card.input_shape, dtype)
        with api.malloc(out.nbytes) as buf, api.stream_create() as stream:
            assert pre.write([(frame, boxes, None)], card, buf.ptr, dtype, stream.handle) == n
            api.memcpy_dtoh_async(out, buf.ptr, stream)
            stream.synchronize()
        return out
    finally:
        pre.close()


def frames(rng):
    h, w = 121, 163
    yield "bgr", rng.integers(0, 256, (h, w, 3), np.uint8), None
    yield "bgra", rng.integers(0, 256, (h, w, 4), np.uint8), None
    yield "gray", rng.integers(0, 256, (h, w), np.uint8), None
    yield "pitched", rng.integers(0, 256, (h, w + 9, 3), np.uint8)[:, 4 : 4 + w], None
    nv12 = Nv12Frame.from_array(rng.integers(0, 256, (120 * 3 // 2, 162), np.uint8))
    yield "nv12", nv12, nv12.to_bgr()


@pytest.mark.parametrize("which", ["library", "nvrtc"])
@pytest.mark.parametrize("color", ["gray", "rgb", "bgr"])
def test_kernel_on_gpu_matches_reference(request, api, which, color):
    kernel = request.getfixturevalue(f"{which}_kernel")
    rng = np.random.default_rng(11)
    card = card_for(color, (56, 48))
    alpha = np.asarray(card.alpha_beta()[0], np.float32).reshape(1, -1, 1, 1)
    for name, frame, as_bgr in frames(rng):
        ref_frame = frame if as_bgr is None else as_bgr
        boxes = random_boxes(rng, *ref_frame.shape[:2])
        ref = preprocess_reference(ref_frame, boxes, card)
        out = run_on_gpu(api, kernel, frame, boxes, card)
        assert (np.abs(out - ref) / alpha).max() <= TOL, f"{which} {name}"
        half = run_on_gpu(api, kernel, frame, boxes, card, np.float16)
        np.testing.assert_array_equal(half.view(np.uint16), out.astype(np.float16).view(np.uint16))


def test_recognizer_device_preprocessor_host_result(api, library_kernel):
    from fer_edge.preprocess.cuda import CudaPreprocessor

    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (480, 640, 3), np.uint8)
    boxes = random_boxes(rng, 480, 640, 70)  # over one launch's 64 boxes
    card = card_for("rgb", (112, 112))
    with_pre = CudaPreprocessor(api=api, kernel=library_kernel)
    try:
        out = with_pre([(frame, boxes, None)], card)
    finally:
        with_pre.close()
    ref = preprocess_reference(frame, boxes, card)
    assert (np.abs(out - ref) * 255 * 0.25).max() <= TOL


def _median_ms(fn, rounds=30):
    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def test_timing_1_8_32_faces_vs_cpu(api, library_kernel, capsys):
    from fer_edge.preprocess.cuda import CudaPreprocessor

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (720, 1280, 3), np.uint8)
    rows = []
    pre = CudaPreprocessor(api=api, kernel=library_kernel)
    stream = api.stream_create()
    try:
        for color, size in (("gray", (48, 48)), ("rgb", (112, 112))):
            card = card_for(color, size)
            for faces in (1, 8, 32):
                boxes = random_boxes(rng, 720, 1280, faces)[:faces]
                out = api.malloc(faces * int(np.prod(card.input_shape)) * 4)

                def device_only():
                    pre.write([(frame, boxes, None)], card, out.ptr, np.float32, stream.handle)
                    stream.synchronize()

                rows.append({
                    "card": f"{color}{size[0]}", "faces": faces,
                    "cpu_opencv_ms": _median_ms(lambda: preprocess(frame, boxes, card)),
                    "cuda_upload_kernel_ms": _median_ms(device_only),
                    "cuda_with_copy_back_ms": _median_ms(lambda: pre([(frame, boxes, None)], card)),
                })
                out.free()
    finally:
        stream.close()
        pre.close()
    with capsys.disabled():
        print("\npreprocessing, 1280x720 BGR frame, median ms:")
        for r in rows:
            print(r)
    report = os.environ.get("FER_EDGE_GPU_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump(rows, f, indent=1)
    assert all(r["cuda_upload_kernel_ms"] > 0 for r in rows)
