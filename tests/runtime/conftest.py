"""Fixtures for the TensorRT runtime tests: a fake tensorrt module in sys.modules and a fake CUDA layer."""

import pytest
from fakes.trt_world import TrtWorld


@pytest.fixture
def trt_world(monkeypatch):
    return TrtWorld(monkeypatch)
