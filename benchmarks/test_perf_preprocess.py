"""Preprocessing: the runtime path (cv2.warpAffine), the float reference spec, and the CUDA kernel when built."""

import importlib

import numpy as np
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


def _cuda_preprocess(attr: str):
    """The CUDA preprocessing entry point ``fer_edge.cuda.preprocess.<attr>``, or skip saying it is not built."""
    try:
        module = importlib.import_module("fer_edge.cuda.preprocess")
    except ImportError as exc:
        pytest.skip(f"CUDA preprocessing is not in this build (fer_edge.cuda.preprocess: {exc})")
    fn = getattr(module, attr, None)
    if fn is None:
        pytest.skip(f"fer_edge.cuda.preprocess has no {attr}()")
    return fn


@pytest.mark.parametrize("faces", [1, 4])
def test_preprocess_cuda_host_build(run, frames, faces):
    fn = _cuda_preprocess("preprocess_host")
    frame, boxes = (frames["one"], frames["boxes_one"]) if faces == 1 else (frames["four"], frames["boxes_four"])
    out = run(lambda: fn(frame, boxes, CARDS["gray48"]), faces=faces, impl="cuda-host")
    assert np.asarray(out).shape[0] == faces


@pytest.mark.gpu
@pytest.mark.parametrize("faces", [1, 4])
def test_preprocess_cuda_device(run, frames, faces):
    fn = _cuda_preprocess("preprocess_cuda")
    frame, boxes = (frames["one"], frames["boxes_one"]) if faces == 1 else (frames["four"], frames["boxes_four"])
    out = run(lambda: fn(frame, boxes, CARDS["gray48"]), faces=faces, impl="cuda-device")
    assert np.asarray(out).shape[0] == faces
