"""Preprocessing: the runtime path (cv2.warpAffine), the float reference spec, and the CUDA kernel when built."""

import pytest

from fer_edge.card import FERPLUS_LABELS, ModelCard
from fer_edge.preprocess import preprocess, preprocess_reference

CARDS = {
    "gray48": ModelCard(labels=FERPLUS_LABELS, input_size=(48, 48), color="gray"),
    "rgb112": ModelCard(labels=FERPLUS_LABELS, input_size=(112, 112), color="rgb", mean=(0.5,) * 3, std=(0.5,) * 3),
}


@pytest.mark.parametrize("faces", [1, 4])
@pytest.mark.parametrize("card_id", sorted(CARDS))
def test_preprocess_runtime(run, frames, faces, card_id):
    frame, boxes = (frames["one"], frames["boxes_one"]) if faces == 1 else (frames["four"], frames["boxes_four"])
    out = run(lambda: preprocess(frame, boxes, CARDS[card_id]), faces=faces, card=card_id, impl="cv2")
    assert out.shape[0] == faces


@pytest.mark.parametrize("faces", [1, 4])
def test_preprocess_reference(run, frames, faces):
    frame, boxes = (frames["one"], frames["boxes_one"]) if faces == 1 else (frames["four"], frames["boxes_four"])
    out = run(lambda: preprocess_reference(frame, boxes, CARDS["gray48"]), faces=faces, card="gray48",
              impl="reference")
    assert out.shape[0] == faces


@pytest.fixture(scope="session")
def host_kernel(tmp_path_factory):
    """The CUDA kernel's host build (g++), compiled once into a temp folder."""
    import shutil

    from fer_edge.preprocess.kernel_launchers import SharedLibraryKernel
    from fer_edge.preprocess.kernel_sources import build_host_library

    if shutil.which("g++") is None:
        pytest.skip("g++ not installed: no host build of the CUDA kernel")
    return SharedLibraryKernel(build_host_library(tmp_path_factory.mktemp("cpp_ext") / "libhost.so"))


@pytest.mark.parametrize("faces", [1, 4])
@pytest.mark.parametrize("card_id", sorted(CARDS))
def test_preprocess_cuda_host_build(run, frames, host_kernel, faces, card_id):
    """The kernel's own per-pixel code on the CPU (one thread, no SIMD): what CI checks, not a GPU timing."""
    from fer_edge.preprocess.cuda import preprocess_with_host_kernel

    frame, boxes = (frames["one"], frames["boxes_one"]) if faces == 1 else (frames["four"], frames["boxes_four"])
    out = run(lambda: preprocess_with_host_kernel(host_kernel, frame, boxes, CARDS[card_id]), faces=faces,
              card=card_id, impl="cuda-host-build")
    assert out.shape[0] == faces


@pytest.mark.parametrize("faces", [1, 4])
@pytest.mark.parametrize("card_id", sorted(CARDS))
def test_preprocess_cuda_device(run, frames, faces, card_id):
    """The kernel on the GPU, host result (frame up, kernel, batch down): skipped where it cannot run."""
    from fer_edge.preprocess import cuda

    status = cuda.available()
    if not status:
        pytest.skip(f"CUDA preprocessing kernel not available: {status.reason}")
    pre = cuda.CudaPreprocessor()
    frame, boxes = (frames["one"], frames["boxes_one"]) if faces == 1 else (frames["four"], frames["boxes_four"])
    try:
        out = run(lambda: pre([(frame, boxes, None)], CARDS[card_id]), faces=faces, card=card_id,
                  impl=f"cuda-{status.source}")
    finally:
        pre.close()
    assert out.shape[0] == faces
