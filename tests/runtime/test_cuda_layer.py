"""fer_edge.cuda: lazy imports, choice by availability/name, and the cuda-python plumbing against a fake runtime."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import types

import numpy as np
import pytest

from fer_edge.cuda import CudaError, cuda_api, gpu_count
from fer_edge.errors import InvalidInputError, MissingDependencyError

# What cudaGetDeviceCount reports on a machine without a usable GPU or driver.
NO_GPU_ERRORS = {"cudaErrorNoDevice", "cudaErrorInsufficientDriver", "cudaErrorInitializationError",
                 "cudaErrorSystemDriverMismatch", "cudaErrorCompatNotSupportedOnDevice", "cudaErrorNotPermitted",
                 "cudaErrorDevicesUnavailable", "cudaErrorOperatingSystem"}


def test_importing_the_layer_loads_no_cuda_library():
    code = ("import sys, fer_edge.cuda, fer_edge.calibration.legacy;"
            "bad=[m for m in ('cuda.bindings','pycuda','tensorrt','torch') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_and_missing_implementations(monkeypatch):
    with pytest.raises(InvalidInputError, match="unknown CUDA layer"):
        cuda_api("cupy")
    monkeypatch.setitem(sys.modules, "pycuda", None)  # makes `import pycuda...` raise ImportError
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    with pytest.raises(MissingDependencyError, match=r"fer-edge\[pycuda\]"):
        cuda_api("pycuda")
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    with pytest.raises(MissingDependencyError, match=r"fer-edge\[cuda\]"):
        cuda_api()


@pytest.mark.skipif(importlib.util.find_spec("cuda") is None, reason="cuda-python not installed")
def test_cuda_python_without_a_gpu_raises_a_clear_error():
    from fer_edge.cuda.cuda_python import CudaPythonApi

    try:
        api = CudaPythonApi()
    except CudaError as exc:
        # The runtime's own error, named and coded, with the driver's explanation (not just our advice line):
        # one of the errors CUDA gives for "no usable GPU or driver" on a machine without one.
        m = re.match(r"CUDA error (cudaError\w+) \((\d+)\): ([^;]+); check the NVIDIA driver", str(exc))
        assert m, str(exc)
        assert m.group(1) in NO_GPU_ERRORS and int(m.group(2)) != 0 and m.group(3).strip(), str(exc)
    else:  # a machine with a GPU: the layer must work for real
        buf = api.malloc(64)
        host = np.arange(16, dtype=np.float32)
        back = np.zeros_like(host)
        api.memcpy_htod(buf.ptr, host)
        api.memcpy_dtoh(back, buf.ptr)
        buf.free()
        np.testing.assert_array_equal(back, host)


class _Err(int):
    @property
    def name(self):
        return "cudaSuccess" if self == 0 else "cudaErrorMemoryAllocation"


def _fake_runtime(calls, fail_malloc=False):
    rt = types.ModuleType("cuda.bindings.runtime")
    ok = _Err(0)
    rt.cudaStreamNonBlocking = 1
    rt.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
    rt.cudaGetDeviceCount = lambda: (ok, 1)
    rt.cudaSetDevice = lambda d: (calls.append(("set", d)), (ok,))[1]
    rt.cudaGetErrorString = lambda e: (ok, b"out of memory")
    rt.cudaMalloc = lambda n: (_Err(2), None) if fail_malloc else (calls.append(("malloc", n)), (ok, 0xD000))[1]
    rt.cudaFree = lambda p: (calls.append(("free", p)), (ok,))[1]
    hosts = {}

    def malloc_host(n):
        arr = np.zeros(n, np.uint8)
        hosts[arr.ctypes.data] = arr
        return ok, arr.ctypes.data

    rt.cudaMallocHost = malloc_host
    rt.cudaFreeHost = lambda p: (calls.append(("freehost",)), (ok,))[1]
    rt.cudaMemcpyAsync = lambda d, s, n, k, st: (calls.append(("memcpy", k, n, st)), (ok,))[1]
    rt.cudaStreamCreateWithFlags = lambda f: (calls.append(("stream", f)), (ok, 0x5))[1]
    rt.cudaStreamSynchronize = lambda s: (calls.append(("sync", s)), (ok,))[1]
    rt.cudaStreamDestroy = lambda s: (calls.append(("destroy", s)), (ok,))[1]
    return rt


def test_cuda_python_plumbing_with_a_fake_runtime(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", _fake_runtime(calls))
    from fer_edge.cuda.cuda_python import CudaPythonApi

    api = CudaPythonApi(device=0)
    buf = api.malloc(256)
    assert buf.ptr == 0xD000 and ("malloc", 256) in calls
    pinned = api.pinned_empty((2, 4), np.float32)
    pinned.array[...] = 7.0
    assert pinned.array.shape == (2, 4) and float(pinned.array.sum()) == 56.0
    with api.stream_create() as stream:
        assert stream.handle == 5
        api.memcpy_htod_async(buf.ptr, pinned.array, stream)
        api.memcpy_dtoh_async(pinned.array, buf.ptr, stream)
        stream.synchronize()
    assert ("memcpy", 1, 32, 5) in calls and ("memcpy", 2, 32, 5) in calls and ("destroy", 5) in calls
    with pytest.raises(CudaError, match="C-contiguous"):
        api.memcpy_htod_async(buf.ptr, np.zeros((4, 4), np.float32)[:, ::2], stream)
    buf.free()
    buf.free()  # idempotent
    assert calls.count(("free", 0xD000)) == 1
    pinned.free()


def test_cuda_python_errors_are_typed(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", _fake_runtime([], fail_malloc=True))
    from fer_edge.cuda.cuda_python import CudaPythonApi

    with pytest.raises(CudaError, match="cudaErrorMemoryAllocation"):
        CudaPythonApi().malloc(1 << 40)
    with pytest.raises(CudaError, match="does not exist"):
        CudaPythonApi(device=3)


def _fake_pycuda_driver(calls):
    class Error(Exception):
        pass

    class Context:
        def push(self):
            calls.append("push")

        def pop(self):
            calls.append("pop")

    class Device:
        @staticmethod
        def count():
            return 1

        def __init__(self, index):
            self.index = index

        def retain_primary_context(self):
            calls.append(f"retain {self.index}")
            return Context()

    return types.SimpleNamespace(Error=Error, Device=Device, init=lambda: calls.append("init"))


def test_pycuda_pushes_the_primary_context_and_close_pops_it_once(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "pycuda", types.ModuleType("pycuda"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", _fake_pycuda_driver(calls))
    from fer_edge.cuda.pycuda_api import PyCudaApi

    with PyCudaApi(0) as api:
        assert calls == ["init", "retain 0", "push"]
    api.close()
    assert calls == ["init", "retain 0", "push", "pop"]
    with pytest.raises(CudaError, match="device 3 does not exist"):
        PyCudaApi(3)


def test_cuda_python_device_properties_and_graph_calls(monkeypatch):
    """The calls TensorRTBackend makes for the sidecar identity and CUDA graphs, against a fake runtime."""
    calls = []
    rt = _fake_runtime(calls)
    ok = _Err(0)
    rt.cudaGetDeviceProperties = lambda d: (ok, types.SimpleNamespace(name=b"Orin\0\0\0", major=8, minor=7))
    rt.cudaStreamCaptureMode = types.SimpleNamespace(cudaStreamCaptureModeThreadLocal=1)
    rt.cudaStreamBeginCapture = lambda s, m: (calls.append(("begin", s, m)), (ok,))[1]
    rt.cudaStreamEndCapture = lambda s: (calls.append(("end", s)), (ok, "graph"))[1]
    rt.cudaGraphInstantiate = lambda g, f: (calls.append(("instantiate", g, f)), (ok, "exec"))[1]
    rt.cudaGraphDestroy = lambda g: (calls.append(("destroy_graph", g)), (ok,))[1]
    rt.cudaGraphLaunch = lambda g, s: (calls.append(("launch", g, s)), (ok,))[1]
    rt.cudaGraphExecDestroy = lambda g: (calls.append(("destroy_exec", g)), (ok,))[1]
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", rt)
    from fer_edge.cuda.cuda_python import CudaPythonApi

    api = CudaPythonApi(device=0)
    assert api.device_properties() == ("Orin", (8, 7)) and api.supports_graphs
    stream = api.stream_create()
    api.graph_capture_begin(stream)
    graph = api.graph_capture_end(stream)
    api.graph_launch(graph, stream)
    api.graph_destroy(graph)
    assert [c for c in calls if c[0] in ("begin", "end", "instantiate", "destroy_graph", "launch", "destroy_exec")] \
        == [("begin", 5, 1), ("end", 5), ("instantiate", "graph", 0), ("destroy_graph", "graph"), ("launch", "exec", 5),
            ("destroy_exec", "exec")]


def test_pycuda_device_properties(monkeypatch):
    calls = []
    drv = _fake_pycuda_driver(calls)
    drv.Device.name = lambda self: "Xavier "
    drv.Device.compute_capability = lambda self: (7, 2)
    monkeypatch.setitem(sys.modules, "pycuda", types.ModuleType("pycuda"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    from fer_edge.cuda.pycuda_api import PyCudaApi

    with PyCudaApi(0) as api:
        assert api.device_properties() == ("Xavier", (7, 2)) and not api.supports_graphs


def test_gpu_count_asks_the_cuda_layer_not_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # a Jetson image without torch still finds its GPU
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", _fake_runtime([]))
    assert gpu_count() == 1
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    assert gpu_count() == 0
    calls = []
    monkeypatch.setitem(sys.modules, "pycuda", types.ModuleType("pycuda"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", _fake_pycuda_driver(calls))
    assert gpu_count() == 1 and calls[-1] == "pop"  # the primary context pushed to count is popped again
