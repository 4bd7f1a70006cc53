"""Shared fixtures and marker auto-skips (gpu, trt, torch, data) by what this machine has."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # makes tests/tiny_models.py importable from any test

from tiny_models import write_tiny_classifier  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FER_EDGE_SHARED_DATA", REPO.parent / "shared" / "data"))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _has_cuda_device() -> bool:
    if _has("torch"):
        import torch

        if torch.cuda.is_available():
            return True
    try:  # a GPU machine without torch (the TensorRT runtime needs only cuda-python)
        from cuda.bindings import runtime

        err, count = runtime.cudaGetDeviceCount()
        return int(err) == 0 and count > 0
    except Exception:  # noqa: BLE001 - no cuda-python, no driver: no device
        return False


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
