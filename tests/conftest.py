"""Shared fixtures and marker auto-skips (gpu, trt, torch, data) by what this machine has."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # makes the helper package tests/fakes importable

from fakes.tiny_models import write_tiny_classifier  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FER_EDGE_SHARED_DATA", REPO.parent / "shared" / "data"))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _has_cuda_device() -> bool:
    """Through the runtime's own CUDA layer (cuda-python or pycuda), not torch: a GPU image without torch counts."""
    from fer_edge.cuda import gpu_count

    return gpu_count() > 0


def pytest_collection_modifyitems(config, items):
    reasons = {
        "torch": (None if _has("torch") else "torch not installed (pip install 'fer-edge[train]')"),
        "trt": (None if _has("tensorrt") else "tensorrt not installed"),
        "gpu": (None if _has_cuda_device() else "no CUDA device"),
        "data": (None if SHARED_DATA.is_dir() else f"{SHARED_DATA} not present"),
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory) -> Path:
    """A fixed-weight 8-class gray 48×48 ONNX classifier with a FER+ card (bright → happiness, dark → surprise)."""
    return write_tiny_classifier(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(autouse=True)
def _backends_are_closed(request):
    """Every ONNX Runtime backend a test (or its function-scoped fixtures) opens must be closed by the end.

    Wider-scoped fixtures are set up before this one, so the models they share are not counted.
    """
    from fer_edge.backends.onnxruntime import OnnxRuntimeBackend

    opened = []
    original = OnnxRuntimeBackend.__init__

    def tracking_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        opened.append(self)

    OnnxRuntimeBackend.__init__ = tracking_init
    try:
        yield
    finally:
        OnnxRuntimeBackend.__init__ = original
    left_open = [str(b.path) for b in opened if getattr(b, "_session", None) is not None]
    if left_open:
        pytest.fail(f"{request.node.nodeid} left {len(left_open)} backend(s) open: {left_open[:3]}; close them "
                    "(`with backend_from_path(...) as b:` / `with Recognizer(...) as rec:`)", pytrace=False)
