"""A fake TensorRT version + a fake GPU, installed where fer_edge looks for them (tests of the TensorRT paths)."""

import sys

from fakes.fake_cuda import FakeCudaApi
from fakes.fake_tensorrt import make_fake_tensorrt


class TrtWorld:
    """One fake TensorRT version + one fake GPU, installed where fer_edge looks for them."""

    def __init__(self, monkeypatch, version="10.13.0.35", gpu="Orin", cc=(8, 7), **overrides):
        self.monkeypatch = monkeypatch
        self.use(version, gpu, cc, **overrides)

    def use(self, version="10.13.0.35", gpu="Orin", cc=(8, 7), **overrides):
        """Switch to another TensorRT version and/or GPU (e.g. to load an engine elsewhere)."""
        self.trt = make_fake_tensorrt(version, **overrides)
        self.cuda = FakeCudaApi(gpu=gpu, compute_capability=cc)
        self.trt.attach_cuda(self.cuda)
        self.monkeypatch.setitem(sys.modules, "tensorrt", self.trt)
        import fer_edge.backends.tensorrt as trt_backend

        self.monkeypatch.setattr(trt_backend, "_open_cuda", lambda options, cuda: cuda or self.cuda)
        import fer_edge.cuda

        self.monkeypatch.setattr(fer_edge.cuda, "cuda_api", lambda name=None, device=0: self.cuda)
        return self

    def calls(self, name):
        return [c for c in self.trt.calls if c[0] == name]
